package dev.fathom.train.optim;

/**
 * AdamW (Loshchilov and Hutter): Adam's moment estimates with bias correction, and weight decay
 * applied to the parameters directly rather than through the gradient. One instance keeps the
 * moments of one flat parameter buffer.
 */
public final class AdamW {
    private final double[] m;
    private final double[] v;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private int t;

    public AdamW(int parameters, double beta1, double beta2, double eps, double weightDecay) {
        this.m = new double[parameters];
        this.v = new double[parameters];
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
    }

    /** One update of {@code params} from {@code grads} at learning rate {@code lr}. */
    public void step(double[] params, double[] grads, double lr) {
        t++;
        double correction1 = 1 - Math.pow(beta1, t);
        double correction2 = 1 - Math.pow(beta2, t);
        for (int i = 0; i < params.length; i++) {
            double g = grads[i];
            m[i] = beta1 * m[i] + (1 - beta1) * g;
            v[i] = beta2 * v[i] + (1 - beta2) * g * g;
            double p = params[i] * (1 - lr * weightDecay);
            params[i] = p - lr * (m[i] / correction1) / (Math.sqrt(v[i] / correction2) + eps);
        }
    }

    /** Writes the moments and the step count, for a checkpoint. */
    public void writeTo(java.io.DataOutputStream out) throws java.io.IOException {
        out.writeInt(t);
        out.writeInt(m.length);
        for (int i = 0; i < m.length; i++) {
            out.writeDouble(m[i]);
            out.writeDouble(v[i]);
        }
    }

    /** Reads what {@link #writeTo} wrote. */
    public void readFrom(java.io.DataInputStream in) throws java.io.IOException {
        t = in.readInt();
        if (in.readInt() != m.length) {
            throw new java.io.IOException("the checkpoint's optimiser holds another number of parameters");
        }
        for (int i = 0; i < m.length; i++) {
            m[i] = in.readDouble();
            v[i] = in.readDouble();
        }
    }

    /** Scales {@code grads} down to a global L2 norm of at most {@code maxNorm}; returns the norm before. */
    public static double clipNorm(double[] grads, double maxNorm) {
        double sum = 0;
        for (double g : grads) {
            sum += g * g;
        }
        double norm = Math.sqrt(sum);
        if (norm > maxNorm) {
            double scale = maxNorm / norm;
            for (int i = 0; i < grads.length; i++) {
                grads[i] *= scale;
            }
        }
        return norm;
    }

    /**
     * The learning rate at {@code step}: a linear warm-up to {@code peak} over {@code warmup}
     * steps, then a cosine decay to {@code peak · floor} at {@code total}.
     */
    public record Schedule(double peak, int warmup, int total, double floor) {
        public double at(int step) {
            if (step < warmup) {
                return peak * (step + 1) / warmup;
            }
            double progress = Math.min(1, (step - warmup) / (double) Math.max(1, total - warmup));
            return peak * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * progress)));
        }
    }
}
