package org.cohort;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.regex.Pattern;

/*
 * What the tests share: the bindfs views tests/cluster/java.sh mounted
 * (system properties), cluster roots and state folders on them, and
 * second JVMs ("peers") run as other nodes.
 *
 *	cohort.test.views      VIEW1,VIEW2: two bindfs views of one folder
 *	cohort.test.work       a scratch folder that is not shared
 *	cohort.test.classpath  the class path for peers (jar, examples, tests)
 *	cohort.test.jvmflags   extra flags for peers (-Xcheck:jni)
 *	cohort.jni.library     libcohort-jni.so, for this JVM and the peers
 *	cohort.test.cohort     the cohort tool (fsck --repair)
 */
final class TestEnv {
	private TestEnv() {
	}

	static String property(String name) {
		String v = System.getProperty(name);
		if (v == null || v.isEmpty())
			fail("system property " + name + " is not set: run the tests with tests/cluster/java.sh");
		return v;
	}

	/* View 1 or 2. */
	static String view(int i) {
		return property("cohort.test.views").split(",")[i - 1];
	}

	static Path work() {
		return Paths.get(property("cohort.test.work"));
	}

	/* The cluster root NAME as seen through view i. */
	static String root(int view, String name) {
		return view(view) + "/" + name;
	}

	static String state(String rootName, String node) {
		return work().resolve("state").resolve(rootName).resolve(node).toString();
	}

	/* Node 'node' of cluster 'rootName' (created if needed) through view i. */
	static Cluster open(int view, String rootName, String node) {
		Cluster.init(root(view, rootName));
		return Cluster.open(root(view, rootName), node, node == null ? null : state(rootName, node));
	}

	/* A jar the store takes as package 'id' 'version' (OSGi manifest). */
	static Path jar(String file, String id, String version, String content) throws IOException {
		Path dir = work().resolve("packages");
		Files.createDirectories(dir);
		Path p = dir.resolve(file);
		Manifest m = new Manifest();
		m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
		m.getMainAttributes().putValue("Bundle-SymbolicName", id);
		m.getMainAttributes().putValue("Bundle-Version", version);
		try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(p), m)) {
			out.putNextEntry(new JarEntry("hello.txt"));
			out.write(content.getBytes(StandardCharsets.UTF_8));
			out.closeEntry();
		}
		return p;
	}

	/* Run 'mainClass' in a second JVM. */
	static Peer spawn(String mainClass, String... args) throws IOException {
		List<String> cmd = new ArrayList<>();
		cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
		String flags = System.getProperty("cohort.test.jvmflags", "");
		for (String f : flags.split(" "))
			if (!f.isEmpty())
				cmd.add(f);
		cmd.add("-Dcohort.jni.library=" + property("cohort.jni.library"));
		cmd.add("-cp");
		cmd.add(property("cohort.test.classpath"));
		cmd.add(mainClass);
		cmd.addAll(Arrays.asList(args));
		return new Peer(new ProcessBuilder(cmd).redirectErrorStream(true).start(), cmd);
	}

	/* A second JVM and the lines it prints. */
	static final class Peer implements AutoCloseable {
		final Process process;
		private final List<String> cmd;
		private final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
		private final List<String> seen = new ArrayList<>();
		private final Thread reader;

		Peer(Process process, List<String> cmd) {
			this.process = process;
			this.cmd = cmd;
			reader = new Thread(() -> {
				try (BufferedReader r = new BufferedReader(new InputStreamReader(
						process.getInputStream(), StandardCharsets.UTF_8))) {
					for (String l; (l = r.readLine()) != null;) {
						/* Into this JVM's output too, which
						 * java.sh checks for JNI warnings. */
						System.out.println("[peer " + process.pid() + "] " + l);
						lines.add(l);
					}
				} catch (IOException e) {
					lines.add("(reading the peer's output: " + e + ")");
				}
			});
			reader.setDaemon(true);
			reader.start();
		}

		/* The next line matching 'regex' within 'seconds'; earlier lines are skipped. */
		String expect(String regex, int seconds) throws InterruptedException {
			Pattern p = Pattern.compile(regex);
			long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
			for (;;) {
				long left = end - System.nanoTime();
				String l = left > 0 ? lines.poll(left, TimeUnit.NANOSECONDS) : null;
				if (l == null)
					fail("peer printed no line matching '" + regex + "' within " + seconds
					     + " s; it printed:\n" + String.join("\n", seen)
					     + (process.isAlive() ? "" : "\n(exited " + process.exitValue() + ")")
					     + "\ncommand: " + String.join(" ", cmd));
				seen.add(l);
				if (p.matcher(l).matches())
					return l;
			}
		}

		/* Every line printed so far (all of them once it exited). */
		List<String> output() throws InterruptedException {
			if (!process.isAlive())
				reader.join(10_000);
			lines.drainTo(seen);
			return new ArrayList<>(seen);
		}

		/* SIGTERM, and its exit status.  (Process.destroy() would also
		 * close our end of its output before we read the last lines.) */
		int stop() throws InterruptedException {
			process.toHandle().destroy();
			if (!process.waitFor(20, TimeUnit.SECONDS)) {
				process.destroyForcibly().waitFor();
				fail("peer did not stop on SIGTERM within 20 s: " + output());
			}
			return process.exitValue();
		}

		/* SIGKILL: the node crashes. */
		void kill() throws InterruptedException {
			process.destroyForcibly().waitFor();
		}

		@Override
		public void close() {
			process.destroyForcibly();
			try {
				process.waitFor();
			} catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
		}
	}
}
