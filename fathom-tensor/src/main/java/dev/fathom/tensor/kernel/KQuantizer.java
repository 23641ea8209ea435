package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.F16;

import java.lang.foreign.MemorySegment;

/**
 * Chooses the two-level scales of the K-quants for one super-block of 256 values.
 *
 * <p>A plain min/max fit per sub-block, then 6-bit (Q4_K, Q5_K) or 8-bit (Q6_K) codes for the
 * sub-block scales relative to one f16 scale per super-block. llama.cpp refines the fit
 * iteratively and with importance weights; this simpler fit is exact at the extremes and good
 * enough for test models and quick conversions.
 */
final class KQuantizer {
    private KQuantizer() {
    }

    /**
     * Fits value = d·scale·q − dmin·min with q in [0, maxQ] over sub-blocks of 32; writes d, dmin
     * and the packed scales at {@code block}, and the quants to {@code q}.
     */
    static void scaleAndMin(float[] x, int offset, int maxQ, int[] q, MemorySegment dst, long block) {
        float[] scale = new float[8];
        float[] min = new float[8];
        float maxScale = 0;
        float maxMin = 0;
        for (int s = 0; s < 8; s++) {
            float lo = 0;
            float hi = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < 32; i++) {
                lo = Math.min(lo, x[offset + 32 * s + i]);
                hi = Math.max(hi, x[offset + 32 * s + i]);
            }
            scale[s] = (hi - lo) / maxQ;
            min[s] = -lo;
            maxScale = Math.max(maxScale, scale[s]);
            maxMin = Math.max(maxMin, min[s]);
        }
        float d = Float.float16ToFloat(Float.floatToFloat16(maxScale / 63));
        float dmin = Float.float16ToFloat(Float.floatToFloat16(maxMin / 63));
        int[] scaleCodes = new int[8];
        int[] minCodes = new int[8];
        for (int s = 0; s < 8; s++) {
            scaleCodes[s] = d > 0 ? Math.clamp(Math.round(scale[s] / d), 0, 63) : 0;
            minCodes[s] = dmin > 0 ? Math.clamp(Math.round(min[s] / dmin), 0, 63) : 0;
            float step = d * scaleCodes[s];
            float offset0 = dmin * minCodes[s];
            for (int i = 0; i < 32; i++) {
                float v = x[offset + 32 * s + i];
                q[32 * s + i] = step > 0 ? Math.clamp(Math.round((v + offset0) / step), 0, maxQ) : 0;
            }
        }
        dst.set(F16, block, Float.floatToFloat16(d));
        dst.set(F16, block + 2, Float.floatToFloat16(dmin));
        KScales.write(scaleCodes, minCodes, dst, block + 4);
    }

    /**
     * Fits value = d·scale·(q − 32) with q in [0, 63] over groups of 16 and signed 8-bit scale
     * codes; writes the codes to {@code scaleCodes} and the quants to {@code q}, returns d.
     */
    static float symmetric6(float[] x, int offset, int[] q, byte[] scaleCodes) {
        float[] scale = new float[16];
        float largest = 0;
        for (int g = 0; g < 16; g++) {
            float max = 0;
            for (int i = 0; i < 16; i++) {
                float v = x[offset + 16 * g + i];
                if (Math.abs(v) > Math.abs(max)) {
                    max = v;
                }
            }
            scale[g] = max / -32;
            if (Math.abs(scale[g]) > Math.abs(largest)) {
                largest = scale[g];
            }
        }
        float d = Float.float16ToFloat(Float.floatToFloat16(largest / -128));
        for (int g = 0; g < 16; g++) {
            int code = d != 0 ? Math.clamp(Math.round(scale[g] / d), -128, 127) : 0;
            scaleCodes[g] = (byte) code;
            float step = d * code;
            for (int i = 0; i < 16; i++) {
                float v = x[offset + 16 * g + i];
                q[16 * g + i] = step != 0 ? Math.clamp(Math.round(v / step), -32, 31) + 32 : 32;
            }
        }
        return d;
    }
}
