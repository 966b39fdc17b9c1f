package org.cohort;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The extension store: packages stored once by content hash on the shared
 * root, an installed index that changes only through journal records, and
 * local folders kept identical to it.
 *
 * <pre>{@code
 * try (Store s = cluster.openStore()) {
 *     PackageInfo p = s.install("plugin.jar", null);     // stored + indexed
 *     s.materialize("/opt/app/plugins", null);            // verified copies
 *     try (InputStream in = s.open(null, p.id, null, 0)) { ... }
 * }
 * }</pre>
 *
 * <p>Threads: calls on one store take turns.  Owned by its {@link Cluster}.
 */
public final class Store extends Handle {
	/** What {@link #install(String, InstallOptions)} may be told. */
	public static final class InstallOptions {
		String namespace;
		boolean dependency;
		String id;
		String version;
		boolean force;
		String name;

		/** Install into this namespace (default: the root namespace). */
		public InstallOptions namespace(String ns) {
			this.namespace = ns;
			return this;
		}

		/** Mark it installed as a dependency. */
		public InstallOptions dependency(boolean dependency) {
			this.dependency = dependency;
			return this;
		}

		/** Override the id and version the package's metadata gives. */
		public InstallOptions as(String id, String version) {
			this.id = id;
			this.version = version;
			return this;
		}

		/** Install despite missing dependencies. */
		public InstallOptions force(boolean force) {
			this.force = force;
			return this;
		}

		/** File name the type is judged by (default: the path's). */
		public InstallOptions name(String name) {
			this.name = name;
			return this;
		}
	}

	/** What {@link #materialize} did. */
	public static final class MaterializeStats {
		public final long added, updated, removed, unchanged;

		MaterializeStats(long[] v) {
			added = v[0];
			updated = v[1];
			removed = v[2];
			unchanged = v[3];
		}

		/** True when the folder changed. */
		public boolean changed() {
			return added + updated + removed != 0;
		}

		@Override
		public String toString() {
			return added + " added, " + updated + " updated, " + removed + " removed, "
				+ unchanged + " unchanged";
		}
	}

	/* Called by the native half (jni_store.c) for each package. */
	static final class PackageSink {
		final List<PackageInfo> packages = new ArrayList<>();

		void pkg(byte[] id, byte[] version, byte[] ns, boolean dependency, byte[] hash,
			 long size, long installed, byte[] ext, long rev, byte[][] deps) {
			List<String> d = new ArrayList<>(deps.length);
			for (byte[] b : deps)
				d.add(Native.string(b));
			packages.add(new PackageInfo(Native.string(id), Native.string(version),
				Native.string(ns), dependency, Native.string(hash), size, installed,
				Native.string(ext), rev, d));
		}
	}

	Store(Cluster cluster, long p) {
		super("store", cluster, p);
	}

	/**
	 * Validate the package at 'path' (every entry read; a hostile or
	 * damaged package is refused with the reason), store its content and
	 * install it; another version of an installed id in that namespace is
	 * upgraded.  'o' may be null.  {@link CohortException#EINVAL} for a
	 * refused package or missing dependencies,
	 * {@link CohortException#EREADONLY} on a read-only node.
	 */
	public PackageInfo install(String path, InstallOptions o) {
		byte[] p8 = Native.required("package path", path);
		InstallOptions opt = o == null ? new InstallOptions() : o;
		byte[] ns = Native.bytes("namespace", opt.namespace);
		byte[] id = Native.bytes("package id", opt.id);
		byte[] version = Native.bytes("version", opt.version);
		byte[] name = Native.bytes("file name", opt.name);
		PackageSink s = new PackageSink();
		run(EXCLUSIVE, p -> nInstall(p, p8, ns, opt.dependency, id, version, opt.force, name, s));
		return s.packages.get(0);
	}

	/**
	 * Uninstall 'id' from namespace 'ns' (null: the root namespace).
	 * Refused while another installed package depends on it, unless
	 * 'force'.  {@link CohortException#ENOTFOUND} when it is not installed
	 * there.
	 */
	public void uninstall(String ns, String id, boolean force) {
		byte[] n8 = Native.bytes("namespace", ns);
		byte[] i8 = Native.required("package id", id);
		run(EXCLUSIVE, p -> nUninstall(p, n8, i8, force));
	}

	/**
	 * Installed packages: with 'ns', those of that namespace and of the
	 * root namespace; with null, all.  Sorted by namespace, id.
	 */
	public List<PackageInfo> list(String ns) {
		byte[] n8 = Native.bytes("namespace", ns);
		PackageSink s = new PackageSink();
		run(EXCLUSIVE, p -> nList(p, n8, s));
		return s.packages;
	}

	/**
	 * The installed package 'id' (of version 'version' if not null) as
	 * 'ns' sees it.  {@link CohortException#ENOTFOUND} when there is none.
	 */
	public PackageInfo find(String ns, String id, String version) {
		byte[] n8 = Native.bytes("namespace", ns);
		byte[] i8 = Native.required("package id", id);
		byte[] v8 = Native.bytes("version", version);
		PackageSink s = new PackageSink();
		run(EXCLUSIVE, p -> nFind(p, n8, i8, v8, s));
		return s.packages.get(0);
	}

	/**
	 * Make 'dir' hold exactly the installed packages ('ns' as for
	 * {@link #list}), each as {@code ID-VERSION.EXT}, verified against its
	 * hash, writing only what changed.  Files it did not place are left
	 * alone.
	 */
	public MaterializeStats materialize(String dir, String ns) {
		byte[] d8 = Native.required("folder", dir);
		byte[] n8 = Native.bytes("namespace", ns);
		return call(EXCLUSIVE, p -> new MaterializeStats(nMaterialize(p, d8, n8)));
	}

	/**
	 * The bytes of installed package 'id' (version 'version' if not null,
	 * as 'ns' sees it) from 'offset' to the end, to resume a download.
	 * The whole content is verified against its hash before the stream
	 * gives a byte ({@link CohortException#ECORRUPT}: nothing is given);
	 * the range is copied to an unlinked temporary file under
	 * {@code java.io.tmpdir}, so the stream holds no lock on the store
	 * and may be read at any pace.
	 */
	public InputStream open(String ns, String id, String version, long offset) {
		byte[] n8 = Native.bytes("namespace", ns);
		byte[] i8 = Native.required("package id", id);
		byte[] v8 = Native.bytes("version", version);
		Path tmp;
		try {
			tmp = Files.createTempFile("cohort-package-", ".tmp");
		} catch (IOException e) {
			throw new UncheckedIOException("cohort: cannot create a temporary file", e);
		}
		try {
			byte[] out = Native.bytes("file", tmp.toString());
			run(EXCLUSIVE, p -> nCat(p, n8, i8, v8, offset, 0, out));
			File f = tmp.toFile();
			InputStream in = new FileInputStream(f);
			/* The open descriptor keeps the bytes; the name goes now. */
			Files.deleteIfExists(tmp);
			return in;
		} catch (IOException e) {
			throw new UncheckedIOException("cohort: cannot read '" + tmp + "'", e);
		} finally {
			try {
				Files.deleteIfExists(tmp);
			} catch (IOException e) {
				/* left in the temporary folder; nothing of the store's */
			}
		}
	}

	@Override
	void free(long p) {
		nClose(p);
	}

	static native long nOpen(long cluster);
	static native void nClose(long p);
	static native void nInstall(long p, byte[] path, byte[] ns, boolean dependency, byte[] id,
				    byte[] version, boolean force, byte[] name, PackageSink sink);
	static native void nUninstall(long p, byte[] ns, byte[] id, boolean force);
	static native void nList(long p, byte[] ns, PackageSink sink);
	static native void nFind(long p, byte[] ns, byte[] id, byte[] version, PackageSink sink);
	static native void nCat(long p, byte[] ns, byte[] id, byte[] version, long offset,
				long length, byte[] out);
	static native long[] nMaterialize(long p, byte[] dir, byte[] ns);
}
