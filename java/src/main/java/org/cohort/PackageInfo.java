package org.cohort;

import java.util.Collections;
import java.util.List;

/** An installed package of the extension store. */
public final class PackageInfo {
	/** The package id, e.g. {@code org.xwiki.contrib:foo}. */
	public final String id;
	/** Its version. */
	public final String version;
	/** Its namespace; null for the root namespace (every namespace). */
	public final String namespace;
	/** Installed as a dependency of another package. */
	public final boolean dependency;
	/** XXH3-128 of its content, hex. */
	public final String hash;
	/** Its size in bytes. */
	public final long size;
	/** Wall clock of the installing node (ms since 1970). */
	public final long installedMillis;
	/** The file name extension: "jar", "zip", "xar", "tar.gz", ... */
	public final String ext;
	/** The journal revision that installed it. */
	public final long rev;
	/** The dependency ids it declares. */
	public final List<String> dependencies;

	PackageInfo(String id, String version, String namespace, boolean dependency,
		    String hash, long size, long installedMillis, String ext, long rev,
		    List<String> dependencies) {
		this.id = id;
		this.version = version;
		this.namespace = namespace.isEmpty() ? null : namespace;
		this.dependency = dependency;
		this.hash = hash;
		this.size = size;
		this.installedMillis = installedMillis;
		this.ext = ext;
		this.rev = rev;
		this.dependencies = Collections.unmodifiableList(dependencies);
	}

	/** The name a materialized folder holds it under: {@code ID-VERSION.EXT}. */
	public String fileName() {
		return id + "-" + version + "." + ext;
	}

	@Override
	public String toString() {
		return (namespace == null ? "" : namespace + "/") + id + " " + version;
	}
}
