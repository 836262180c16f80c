package io.triforce.engine.safetensors;

import io.triforce.engine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The weights of a checkpoint directory as Hugging Face writes them: a single
 * {@code model.safetensors}, or shards {@code model-0000x-of-0000y.safetensors} listed by
 * {@code model.safetensors.index.json}. Every file is memory-mapped into one shared arena;
 * {@link #close} unmaps them all, after which no tensor of this store may be read.
 */
public final class SafetensorsStore implements AutoCloseable {

    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Arena arena;
    private final List<Path> files;
    private final Map<String, Tensor> tensors;

    private SafetensorsStore(Arena arena, List<Path> files, Map<String, Tensor> tensors) {
        this.arena = arena;
        this.files = files;
        this.tensors = tensors;
    }

    /**
     * Opens the weights of {@code dir}: {@code model.safetensors} if present (as Hugging Face
     * prefers it), else the shards of {@code model.safetensors.index.json}. With shards, every
     * tensor of every listed shard is available; each weight_map entry must be in its shard and
     * no name may appear in two shards.
     *
     * @throws SafetensorsException if neither file exists or any file is unreadable or malformed
     */
    public static SafetensorsStore open(Path dir) {
        Path single = dir.resolve(SINGLE_FILE);
        Path index = dir.resolve(INDEX_FILE);
        if (!Files.isRegularFile(single) && !Files.isRegularFile(index)) {
            throw new SafetensorsException("no weights in " + dir + ": expected " + SINGLE_FILE + " or " + INDEX_FILE);
        }
        Arena arena = Arena.ofShared();
        try {
            if (Files.isRegularFile(single)) {
                SafetensorsFile file = SafetensorsFile.map(single, arena);
                return new SafetensorsStore(arena, List.of(single), file.tensors());
            }
            return openShards(SafetensorsIndex.read(index), dir, arena);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static SafetensorsStore openShards(SafetensorsIndex index, Path dir, Arena arena) {
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        for (String shard : new LinkedHashSet<>(index.weightMap().values())) {
            shards.put(shard, SafetensorsFile.map(dir.resolve(shard), arena));
        }
        index.weightMap().forEach((name, shard) -> {
            if (!shards.get(shard).tensors().containsKey(name)) {
                throw new SafetensorsException(index.file() + ": weight_map puts tensor '" + name + "' in " + shard
                        + ", but " + dir.resolve(shard) + " has no such tensor");
            }
        });
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, Path> origin = new LinkedHashMap<>();
        List<Path> files = new ArrayList<>();
        for (SafetensorsFile shard : shards.values()) {
            files.add(shard.path());
            for (Tensor t : shard.tensors().values()) {
                Path previous = origin.putIfAbsent(t.name(), shard.path());
                if (previous != null) {
                    throw new SafetensorsException("tensor '" + t.name() + "' is in two shards: " + previous + " and "
                            + shard.path());
                }
                tensors.put(t.name(), t);
            }
        }
        return new SafetensorsStore(arena, List.copyOf(files), Collections.unmodifiableMap(tensors));
    }

    /** The tensor called {@code name} (Hugging Face name, e.g. {@code model.norm.weight}). */
    public Optional<Tensor> find(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    /** Names of every tensor in the store. */
    public Set<String> names() {
        return tensors.keySet();
    }

    /** The mapped files: one, or the shards in index order. */
    public List<Path> files() {
        return files;
    }

    @Override
    public void close() {
        arena.close();
    }
}
