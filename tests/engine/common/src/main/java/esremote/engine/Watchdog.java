package esremote.engine;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/** Ends the whole JVM when a step overruns its limit, so a stuck engine never outlives its test. */
final class Watchdog {

    /** A running limit; closing it means the step finished in time. */
    interface Armed extends AutoCloseable {
        @Override
        void close();
    }

    private final ScheduledExecutorService timer =
            Executors.newSingleThreadScheduledExecutor(
                    task -> {
                        Thread thread = new Thread(task, "harness-watchdog");
                        thread.setDaemon(true);
                        return thread;
                    });
    private final PrintStream protocol;

    Watchdog(PrintStream protocol) {
        this.protocol = protocol;
    }

    Armed arm(String step, Duration limit) {
        ScheduledFuture<?> expiry =
                timer.schedule(() -> expire(step, limit), limit.toMillis(), TimeUnit.MILLISECONDS);
        return () -> expiry.cancel(false);
    }

    // NB: halt, not exit: a shutdown hook would try to close the very nodes that are stuck.
    // The nodes live in this JVM, so halting it leaves nothing running behind.
    private void expire(String step, Duration limit) {
        protocol.println("FAILED " + step + " took longer than " + limit.toSeconds() + " s");
        System.err.println("harness: " + step + " overran " + limit + "; threads at that moment:");
        for (Map.Entry<Thread, StackTraceElement[]> entry : Thread.getAllStackTraces().entrySet()) {
            System.err.println("\"" + entry.getKey().getName() + "\" " + entry.getKey().getState());
            for (StackTraceElement frame : entry.getValue()) {
                System.err.println("    at " + frame);
            }
        }
        Runtime.getRuntime().halt(1);
    }
}
