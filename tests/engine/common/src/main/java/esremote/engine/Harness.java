package esremote.engine;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Two single-node clusters in this JVM: A, and B holding A as a remote under the aliases
 * a_sniff (sniff mode) and a_proxy (proxy mode). Driven by one command per stdin line, each
 * answered by one stdout line; tests/engine/README.md describes the protocol.
 */
public final class Harness {

    private static final List<String> INITIAL_ALIASES = List.of("a_sniff", "a_proxy");
    private static final Pattern ALIAS = Pattern.compile("[A-Za-z0-9_-]+");
    private static final String MARKER = ".engine-harness";

    private static final Duration STARTUP_LIMIT = Duration.ofSeconds(240);
    private static final Duration COMMAND_LIMIT = Duration.ofSeconds(120);
    private static final Duration NODE_HEALTH_LIMIT = Duration.ofSeconds(60);
    private static final Duration CONNECT_LIMIT = Duration.ofSeconds(60);
    private static final Duration CLOSE_LIMIT = Duration.ofSeconds(30);
    private static final Duration POLL_INTERVAL = Duration.ofMillis(100);
    private static final int BIND_ATTEMPTS = 5;
    /** Lets a node bind a port of the kernel's choosing; the node then reports which. */
    private static final int ANY_PORT = 0;

    /** A command that does not fit: a typo, or one the current state does not allow. */
    private static final class CommandError extends Exception {
        CommandError(String message) {
            super(message);
        }
    }

    private final Engine engine;
    private final Path workdir;
    private final PrintStream protocol;
    private final Watchdog watchdog;
    private final Http http = new Http();
    private final AtomicReference<Engine.StartedNode> nodeA = new AtomicReference<>();
    private final AtomicReference<Engine.StartedNode> nodeB = new AtomicReference<>();
    private final Set<String> aliases = new LinkedHashSet<>();
    private volatile boolean ready;
    /** A's transport port, fixed for the life of the harness: B's remotes point at it. */
    private int aTransport;

    private Harness(Engine engine, Path workdir, PrintStream protocol) {
        this.engine = engine;
        this.workdir = workdir;
        this.protocol = protocol;
        this.watchdog = new Watchdog(protocol);
    }

    /** Entry point for a flavour's main(): runs the protocol and exits the JVM with its code. */
    public static void run(Engine engine, String[] args) {
        // Claim stdout before any engine code runs: whatever else prints goes to stderr.
        PrintStream protocol =
                new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        System.setOut(System.err);
        if (args.length != 1) {
            protocol.println("FAILED usage: <flavour main class> <workdir>");
            System.exit(1);
        }
        System.exit(new Harness(engine, Path.of(args[0]), protocol).run());
    }

    private int run() {
        Runtime.getRuntime().addShutdownHook(new Thread(this::closeNodes, "harness-shutdown"));
        BlockingQueue<Optional<String>> commands = readCommands();

        try (Watchdog.Armed limit = watchdog.arm("startup", STARTUP_LIMIT)) {
            startUp();
        } catch (Exception e) {
            return fail("startup", e);
        }
        ready = true;
        answer(String.format("READY a_http=%d a_transport=%d b_http=%d b_transport=%d",
                nodeA.get().httpPort(), aTransport, nodeB.get().httpPort(),
                nodeB.get().transportPort()));

        while (true) {
            String command;
            try {
                command = commands.take().map(String::trim).orElse("quit");
            } catch (InterruptedException e) {
                return fail("reading stdin", e);
            }
            if (command.equals("quit")) {
                break;
            }
            if (command.isEmpty()) {
                continue;
            }
            // A failed command is answered and the harness goes on: a typo or a repeated
            // `stop a` in an interactive session must not take both clusters down. A test
            // that wants to stop at the first failure does so on the FAILED answer.
            try (Watchdog.Armed limit = watchdog.arm(command, COMMAND_LIMIT)) {
                answer(execute(command));
            } catch (CommandError e) {
                answer("FAILED " + command + ": " + e.getMessage());
            } catch (Exception e) {
                e.printStackTrace();
                answer("FAILED " + command + ": " + oneLine(String.valueOf(e)));
            }
        }

        try (Watchdog.Armed limit = watchdog.arm("quit", COMMAND_LIMIT)) {
            closeNodes();
        }
        answer("BYE");
        return 0;
    }

    // === startup ===

    private void startUp() throws Exception {
        long started = System.nanoTime();
        log("engine " + engine.describe() + ", work directory " + workdir.toAbsolutePath());
        prepareWorkdir();
        startFirstA();
        startNode(nodeB, "b", ANY_PORT, ANY_PORT);

        String remotes = String.format(
                "{\"persistent\":{"
                        + "\"cluster.remote.a_sniff.seeds\":[\"127.0.0.1:%1$d\"],"
                        + "\"cluster.remote.a_proxy.mode\":\"proxy\","
                        + "\"cluster.remote.a_proxy.proxy_address\":\"127.0.0.1:%1$d\","
                        + "\"cluster.remote.a_proxy.skip_unavailable\":true}}",
                aTransport);
        expectOk("configure remotes on b", http.putJson(bHttp(), "/_cluster/settings", remotes));
        aliases.addAll(INITIAL_ALIASES);
        waitUntil("remotes " + aliases + " connected on b", CONNECT_LIMIT, this::allConnected);
        log(String.format("ready after %.1f s", (System.nanoTime() - started) / 1e9));
    }

    /** An empty directory, or one this harness used before: then its node data is wiped. */
    private void prepareWorkdir() throws IOException {
        Files.createDirectories(workdir);
        try (Stream<Path> entries = Files.list(workdir)) {
            if (entries.findAny().isPresent() && !Files.exists(workdir.resolve(MARKER))) {
                throw new IllegalStateException(
                        workdir + " is neither empty nor a work directory of this harness");
            }
        }
        // Left-over data of B would hold remotes pointing at ports of an earlier run.
        for (String home : List.of("a", "b")) {
            deleteTree(workdir.resolve(home));
        }
        Files.writeString(workdir.resolve(MARKER), "engine harness work directory\n");
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
    }

    /**
     * Starts A for the first time. Every port but A's transport port is the kernel's pick at
     * bind time, so nothing can take it first. A's transport port must stay the same across
     * restarts and so is picked beforehand; another process can bind it between the pick and
     * the node's own bind, and then A starts again on another one.
     */
    private void startFirstA() throws Exception {
        for (int attempt = 1; ; attempt++) {
            int port = pickTransportPort();
            try {
                startNode(nodeA, "a", ANY_PORT, port);
                aTransport = port;
                return;
            } catch (Exception e) {
                if (!isBindFailure(e) || attempt == BIND_ATTEMPTS) {
                    throw e;
                }
                log("a could not bind transport port " + port + ", attempt " + attempt + " of "
                        + BIND_ATTEMPTS + ": " + oneLine(String.valueOf(e)));
            }
        }
    }

    // NB: the port comes from below the kernel's ephemeral range (32768 and up on Linux), so an
    // outgoing socket, such as one of B's reconnect attempts, can never be handed the port that
    // A must bind again when it restarts. That is also why it is not the kernel's pick.
    private static int pickTransportPort() throws IOException {
        Random random = new Random();
        InetAddress loopback = InetAddress.getByName("127.0.0.1");
        for (int attempt = 0; attempt < 500; attempt++) {
            try (ServerSocket socket = new ServerSocket()) {
                socket.bind(new InetSocketAddress(loopback, 20000 + random.nextInt(12000)));
                return socket.getLocalPort();
            } catch (IOException taken) {
                // try another
            }
        }
        throw new IOException("found no free loopback port in 20000-31999");
    }

    private static boolean isBindFailure(Throwable error) {
        for (Throwable cause = error; cause != null; cause = cause.getCause()) {
            if (cause instanceof BindException) {
                return true;
            }
        }
        return false;
    }

    private void startNode(AtomicReference<Engine.StartedNode> slot, String cluster, int httpPort,
            int transportPort) throws Exception {
        long started = System.nanoTime();
        Path home = workdir.resolve(cluster).toAbsolutePath();
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("cluster.name", "cluster-" + cluster);
        settings.put("node.name", cluster + "-node");
        settings.put("path.home", home.toString());
        settings.put("path.data", home.resolve("data").toString());
        settings.put("path.logs", home.resolve("logs").toString());
        settings.put("network.host", "127.0.0.1");
        settings.put("http.port", Integer.toString(httpPort));
        settings.put("transport.port", Integer.toString(transportPort));
        settings.put("discovery.type", "single-node");
        settings.put("transport.type", "netty4");
        settings.put("http.type", "netty4");
        // A nearly full test disk must not make the nodes refuse anything.
        settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");

        Engine.StartedNode node = engine.start(settings);
        slot.set(node);
        waitUntil(cluster + " healthy", NODE_HEALTH_LIMIT,
                () -> http.get(node.httpPort(), "/_cluster/health?wait_for_status=yellow&timeout=5s")
                        .status() == 200);
        log(String.format("%s started in %.1f s, http port %d, transport port %d", cluster,
                (System.nanoTime() - started) / 1e9, node.httpPort(), node.transportPort()));
    }

    private int bHttp() {
        return nodeB.get().httpPort();
    }

    // === commands ===

    private String execute(String command) throws Exception {
        switch (command) {
            case "stop a":
                Engine.StartedNode node = nodeA.getAndSet(null);
                if (node == null) {
                    throw new CommandError("a is not running");
                }
                node.close(CLOSE_LIMIT);
                return "STOPPED a";
            case "start a":
                if (nodeA.get() != null) {
                    throw new CommandError("a is already running");
                }
                startNode(nodeA, "a", ANY_PORT, aTransport);
                return "STARTED a a_http=" + nodeA.get().httpPort();
            case "ccs":
                return "CCS " + crossClusterSearch();
            case "status":
                return "STATUS " + oneLine(remoteInfo());
            default:
                break;
        }
        String[] words = command.split("\\s+");
        if (words.length == 2 && ALIAS.matcher(words[1]).matches()) {
            String alias = words[1];
            if (words[0].equals("add")) {
                String seeds = String.format(
                        "{\"persistent\":{\"cluster.remote.%s.seeds\":[\"127.0.0.1:%d\"]}}",
                        alias, aTransport);
                expectOk(command, http.putJson(bHttp(), "/_cluster/settings", seeds));
                aliases.add(alias);
                return "ADDED " + alias;
            }
            if (words[0].equals("remove")) {
                String nulls = String.format(
                        "{\"persistent\":{\"cluster.remote.%s.*\":null}}", alias);
                expectOk(command, http.putJson(bHttp(), "/_cluster/settings", nulls));
                aliases.remove(alias);
                return "REMOVED " + alias;
            }
        }
        throw new CommandError("unknown command; commands are stop a, start a, ccs, status,"
                + " add <alias>, remove <alias>, quit (aliases are [A-Za-z0-9_-]+)");
    }

    /** Searches every alias the harness has configured; only the status code is reported. */
    private int crossClusterSearch() throws Exception {
        if (aliases.isEmpty()) {
            throw new CommandError("no remote is configured on b");
        }
        String indices = aliases.stream().map(alias -> alias + ":*").collect(Collectors.joining(","));
        Http.Response response = http.get(bHttp(), "/" + indices + "/_search?size=0");
        log("ccs " + indices + " -> " + response.status() + " " + oneLine(response.text()));
        return response.status();
    }

    private String remoteInfo() throws Exception {
        Http.Response response = http.get(bHttp(), "/_remote/info");
        expectOk("GET /_remote/info on b", response);
        return response.text();
    }

    // NB: a pattern instead of a JSON parser keeps this module free of dependencies; it holds
    // because an entry of _remote/info has no nested objects, only scalars and arrays.
    private boolean allConnected() throws Exception {
        String info = remoteInfo();
        for (String alias : aliases) {
            Pattern connected =
                    Pattern.compile("\"" + Pattern.quote(alias) + "\":\\{[^{}]*\"connected\":true");
            if (!connected.matcher(info).find()) {
                return false;
            }
        }
        return true;
    }

    // === plumbing ===

    /** Lines from stdin; an empty Optional marks its end. */
    private BlockingQueue<Optional<String>> readCommands() {
        BlockingQueue<Optional<String>> commands = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader in =
                    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                    commands.add(Optional.of(line));
                }
            } catch (IOException e) {
                e.printStackTrace();
            }
            // A parent that went away before READY must not leave two nodes behind.
            if (!ready) {
                answer("FAILED stdin closed before READY");
                System.exit(1);
            }
            commands.add(Optional.empty());
        }, "harness-stdin");
        reader.setDaemon(true);
        reader.start();
        return commands;
    }

    private void waitUntil(String what, Duration limit, Callable<Boolean> condition)
            throws Exception {
        long deadline = System.nanoTime() + limit.toNanos();
        Exception lastError = null;
        while (System.nanoTime() < deadline) {
            try {
                if (condition.call()) {
                    return;
                }
            } catch (IOException e) {
                lastError = e;
            }
            Thread.sleep(POLL_INTERVAL.toMillis());
        }
        TimeoutException timeout = new TimeoutException(what + " not reached within " + limit);
        if (lastError != null) {
            timeout.initCause(lastError);
        }
        throw timeout;
    }

    private static void expectOk(String what, Http.Response response) {
        if (response.status() != 200) {
            throw new IllegalStateException(
                    what + " answered " + response.status() + ": " + oneLine(response.text()));
        }
    }

    /** Closes B, then A; safe to call twice and from the shutdown hook. */
    private void closeNodes() {
        for (AtomicReference<Engine.StartedNode> slot : List.of(nodeB, nodeA)) {
            Engine.StartedNode node = slot.getAndSet(null);
            if (node == null) {
                continue;
            }
            try {
                node.close(CLOSE_LIMIT);
            } catch (Exception e) {
                log("closing a node failed: " + e);
                e.printStackTrace();
            }
        }
    }

    private int fail(String step, Exception error) {
        answer("FAILED " + step + ": " + oneLine(String.valueOf(error)));
        error.printStackTrace();
        try (Watchdog.Armed limit = watchdog.arm("closing after failure", COMMAND_LIMIT)) {
            closeNodes();
        }
        return 1;
    }

    private void answer(String line) {
        protocol.println(line);
    }

    private static void log(String message) {
        System.err.println("harness: " + message);
    }

    // JSON needs no line breaks outside strings and cannot have raw ones inside them.
    private static String oneLine(String text) {
        return text.replace("\r", "").replace("\n", " ").trim();
    }
}
