package esremote.engine;

import java.time.Duration;
import java.util.Map;

/** What a flavour supplies: how to start one embedded node of its engine in this JVM. */
public interface Engine {

    /** Engine name and version as it reports itself, for the log. */
    String describe();

    /**
     * Builds a node from these settings (keys are the same in every flavour) and starts it.
     * Returns once the node's start() has returned, so its HTTP and transport ports are bound.
     * A node that failed to start is closed before the exception leaves, so its data path
     * can be used again at once.
     */
    StartedNode start(Map<String, String> settings) throws Exception;

    /** A running node; closing it releases its ports so the same ones can be bound again. */
    interface StartedNode {
        /** The HTTP port the node bound: the one asked for, or the kernel's pick for port 0. */
        int httpPort();

        /** The transport port the node bound, likewise. */
        int transportPort();

        void close(Duration limit) throws Exception;
    }
}
