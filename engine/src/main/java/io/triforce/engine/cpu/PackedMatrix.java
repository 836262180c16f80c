package io.triforce.engine.cpu;

import io.triforce.engine.tensor.DType;
import io.triforce.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A weight matrix W [rows][cols] repacked off-heap for the CPU matmul: rows in tiles of
 * {@link #TILE} (one SIMD vector), each tile stored column by column, so that one vector load
 * holds column j of {@code TILE} consecutive rows:
 * <pre>
 *   data [tiles][cols][TILE]      tiles = rows / TILE rounded up to a multiple of 4, zero padded
 * </pre>
 * bf16 stays bf16; f16 and f32 are stored as f32. The memory-mapped checkpoint is read once
 * while packing and never copied onto the heap.
 */
final class PackedMatrix {

    static final int TILE = VectorMath.LANES;
    static final int TILE_GROUP = 4;

    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    final int rows;
    final int cols;
    final int tiles;
    final boolean bf16;
    final MemorySegment data;

    private PackedMatrix(int rows, int cols, int tiles, boolean bf16, MemorySegment data) {
        this.rows = rows;
        this.cols = cols;
        this.tiles = tiles;
        this.bf16 = bf16;
        this.data = data;
    }

    static PackedMatrix pack(Tensor w, Arena arena) {
        int rows = w.rows();
        int cols = w.cols();
        int tiles = ((rows + TILE - 1) / TILE + TILE_GROUP - 1) / TILE_GROUP * TILE_GROUP;
        boolean bf16 = w.dtype() == DType.BF16;
        long elements = (long) tiles * cols * TILE;
        MemorySegment data = arena.allocate(elements * (bf16 ? 2 : 4), 64);
        MemorySegment src = w.data();
        for (int r = 0; r < rows; r++) {
            long dst = ((long) (r / TILE) * cols * TILE) + r % TILE;
            long rowStart = (long) r * cols;
            for (int j = 0; j < cols; j++) {
                long at = dst + (long) j * TILE;
                if (bf16) {
                    data.set(SHORT, at * 2, src.get(SHORT, (rowStart + j) * 2));
                } else {
                    data.set(FLOAT, at * 4, w.get(rowStart + j));
                }
            }
        }
        return new PackedMatrix(rows, cols, tiles, bf16, data);
    }

    /** Byte offset of column j of a tile. */
    long offset(int tile, int j) {
        return ((long) tile * cols + j) * TILE * (bf16 ? 2 : 4);
    }
}
