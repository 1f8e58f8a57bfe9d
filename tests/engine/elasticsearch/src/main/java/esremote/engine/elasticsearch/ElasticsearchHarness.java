package esremote.engine.elasticsearch;

import esremote.engine.Engine;
import esremote.engine.Harness;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.elasticsearch.Version;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.transport.BoundTransportAddress;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.Netty4Plugin;
import org.elasticsearch.transport.TransportService;

/** The harness on Elasticsearch nodes embedded from the Maven Central jars. */
public final class ElasticsearchHarness implements Engine {

    public static void main(String[] args) {
        Harness.run(new ElasticsearchHarness(), args);
    }

    @Override
    public String describe() {
        return "Elasticsearch " + Version.CURRENT;
    }

    @Override
    public StartedNode start(Map<String, String> settings) throws Exception {
        Settings.Builder builder = Settings.builder();
        settings.forEach(builder::put);
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
                builder.build(), Map.of(), null, () -> settings.get("node.name"));
        EmbeddedNode node = new EmbeddedNode(environment);
        Engine.Closer closer = limit -> close(node, limit);
        Engine.startOrClose(node::start, closer);
        int httpPort = port(node.injector().getInstance(HttpServerTransport.class).boundAddress());
        int transportPort = port(node.injector().getInstance(TransportService.class).boundAddress());
        return new StartedNode(httpPort, transportPort, closer);
    }

    private static int port(BoundTransportAddress bound) {
        return bound.publishAddress().getPort();
    }

    private static void close(Node node, Duration limit) throws Exception {
        node.close();
        if (!node.awaitClose(limit.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException("node did not close within " + limit);
        }
    }

    /** A node with Netty for HTTP and transport, which the server jar alone does not have. */
    private static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment) {
            super(environment, List.of(Netty4Plugin.class), true);
        }

        // NB: the default registers node and cluster ids with a log4j converter that may be set
        // once per JVM; a second node, or A restarted, would fail on it.
        @Override
        protected void configureNodeAndClusterIdStateListener(ClusterService clusterService) {}
    }
}
