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

    /**
     * A running node: the HTTP and transport ports it bound (the ones asked for, or the kernel's
     * picks for port 0), and how to close it, which releases those ports so the same ones can
     * be bound again.
     */
    record StartedNode(int httpPort, int transportPort, Closer closer) {
        public void close(Duration limit) throws Exception {
            closer.close(limit);
        }
    }

    /** Closes a flavour's node, waiting at most {@code limit} for it. */
    @FunctionalInterface
    interface Closer {
        void close(Duration limit) throws Exception;
    }

    /** A node's start method. */
    @FunctionalInterface
    interface Start {
        void start() throws Exception;
    }

    /** How long a node that failed to start may take to close. */
    Duration CLOSE_AFTER_FAILURE = Duration.ofSeconds(30);

    /**
     * Runs {@code start}; when it fails, closes the node with {@code closer} before the exception
     * leaves, so its data path can be used again at once.
     */
    static void startOrClose(Start start, Closer closer) throws Exception {
        try {
            start.start();
        } catch (Exception e) {
            try {
                closer.close(CLOSE_AFTER_FAILURE);
            } catch (Exception closing) {
                e.addSuppressed(closing);
            }
            throw e;
        }
    }
}
