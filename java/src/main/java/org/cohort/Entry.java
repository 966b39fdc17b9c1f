package org.cohort;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/** One record to append: a type (null: "data") and a payload. */
public final class Entry {
	final String type;
	final byte[] data;

	/** A record of 'type' (null: "data") holding 'data' (not copied). */
	public Entry(String type, byte[] data) {
		this.type = type;
		this.data = Objects.requireNonNull(data, "cohort: the payload is null");
	}

	/** A record of 'type' holding 'text' as UTF-8. */
	public static Entry of(String type, String text) {
		Objects.requireNonNull(text, "cohort: the payload is null");
		return new Entry(type, text.getBytes(StandardCharsets.UTF_8));
	}
}
