package dev.fathom.train;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * The training and evaluation figures as PNG files, drawn with the JDK alone: line charts of
 * per-step curves and grouped bar charts of accuracies. Headless; no fonts beyond the JDK's.
 */
public final class Charts {
    private static final int WIDTH = 900;
    private static final int HEIGHT = 480;
    private static final int LEFT = 70;
    private static final int RIGHT = 20;
    private static final int TOP = 60;
    private static final int BOTTOM = 60;
    private static final Color[] PALETTE = {new Color(0x1F77B4), new Color(0xFF7F0E), new Color(0x2CA02C),
        new Color(0xD62728), new Color(0x9467BD), new Color(0x8C564B)};

    /** A curve: its name in the legend and its points. */
    public record Series(String name, double[] x, double[] y) {
    }

    private Charts() {
    }

    /** Curves on shared axes, y from 0 (or the lowest value, if below) to a little above the highest. */
    public static void lines(String title, String xLabel, String yLabel, List<Series> series, Path png) throws IOException {
        double xMin = Double.MAX_VALUE;
        double xMax = -Double.MAX_VALUE;
        double yMin = 0;
        double yMax = -Double.MAX_VALUE;
        for (Series s : series) {
            for (int i = 0; i < s.x().length; i++) {
                xMin = Math.min(xMin, s.x()[i]);
                xMax = Math.max(xMax, s.x()[i]);
                yMin = Math.min(yMin, s.y()[i]);
                yMax = Math.max(yMax, s.y()[i]);
            }
        }
        if (xMax <= xMin) {
            xMax = xMin + 1;
        }
        yMax = yMax <= yMin ? yMin + 1 : yMax + 0.05 * (yMax - yMin);
        BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(image, title);
        Frame frame = new Frame(xMin, xMax, yMin, yMax);
        frame.axes(g, xLabel, yLabel, true);
        for (int k = 0; k < series.size(); k++) {
            Series s = series.get(k);
            Path2D.Double line = new Path2D.Double();
            for (int i = 0; i < s.x().length; i++) {
                double px = frame.px(s.x()[i]);
                double py = frame.py(s.y()[i]);
                if (i == 0) {
                    line.moveTo(px, py);
                } else {
                    line.lineTo(px, py);
                }
            }
            g.setColor(PALETTE[k % PALETTE.length]);
            g.setStroke(new BasicStroke(1.5f));
            g.draw(line);
        }
        legend(g, series.stream().map(Series::name).toList());
        write(image, g, png);
    }

    /**
     * Bars in groups: one group per label along the x axis, in each one bar per entry of
     * {@code bars} (its name in the legend, its value for each group), on a y axis from 0 to {@code yMax}.
     */
    public static void bars(String title, String yLabel, List<String> groups, Map<String, double[]> bars, double yMax,
            Path png) throws IOException {
        BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(image, title);
        Frame frame = new Frame(0, groups.size(), 0, yMax);
        frame.axes(g, "", yLabel, false);
        double slot = (frame.px(1) - frame.px(0)) * 0.8 / bars.size();
        g.setFont(g.getFont().deriveFont(11f));
        for (int i = 0; i < groups.size(); i++) {
            double start = frame.px(i) + (frame.px(1) - frame.px(0)) * 0.1;
            int k = 0;
            for (double[] values : bars.values()) {
                double top = frame.py(values[i]);
                g.setColor(PALETTE[k % PALETTE.length]);
                g.fill(new java.awt.geom.Rectangle2D.Double(start + k * slot, top, slot - 1, frame.py(0) - top));
                k++;
            }
            g.setColor(Color.DARK_GRAY);
            String label = groups.get(i);
            int w = g.getFontMetrics().stringWidth(label);
            g.drawString(label, (int) (frame.px(i + 0.5) - w / 2.0), HEIGHT - BOTTOM + 16 + (i % 2) * 13);
        }
        legend(g, List.copyOf(bars.keySet()));
        write(image, g, png);
    }

    private static Graphics2D canvas(BufferedImage image, String title) {
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, WIDTH, HEIGHT);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.drawString(title, LEFT, 24);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        return g;
    }

    /** The names and their colours in a row under the title, clear of the data. */
    private static void legend(Graphics2D g, List<String> names) {
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        int x = LEFT;
        for (int k = 0; k < names.size(); k++) {
            g.setColor(PALETTE[k % PALETTE.length]);
            g.fillRect(x, TOP - 22, 14, 8);
            g.setColor(Color.BLACK);
            g.drawString(names.get(k), x + 20, TOP - 13);
            x += 20 + g.getFontMetrics().stringWidth(names.get(k)) + 24;
        }
    }

    private static void write(BufferedImage image, Graphics2D g, Path png) throws IOException {
        g.dispose();
        if (!ImageIO.write(image, "png", png.toFile())) {
            throw new IOException("no PNG writer in this JDK");
        }
    }

    /** The plotting area and the mapping of data onto it. */
    private record Frame(double xMin, double xMax, double yMin, double yMax) {
        double px(double x) {
            return LEFT + (x - xMin) / (xMax - xMin) * (WIDTH - LEFT - RIGHT);
        }

        double py(double y) {
            return HEIGHT - BOTTOM - (y - yMin) / (yMax - yMin) * (HEIGHT - TOP - BOTTOM);
        }

        /** The axes, light grid lines at round values of y (and of x when {@code xTicks}), the axis labels. */
        void axes(Graphics2D g, String xLabel, String yLabel, boolean xTicks) {
            g.setStroke(new BasicStroke(1f));
            double yStep = roundStep((yMax - yMin) / 5);
            for (double y = Math.ceil(yMin / yStep) * yStep; y <= yMax; y += yStep) {
                g.setColor(new Color(0xE6E6E6));
                g.drawLine(LEFT, (int) py(y), WIDTH - RIGHT, (int) py(y));
                g.setColor(Color.DARK_GRAY);
                String text = number(y, yStep);
                g.drawString(text, LEFT - 6 - g.getFontMetrics().stringWidth(text), (int) py(y) + 4);
            }
            if (xTicks) {
                double xStep = roundStep((xMax - xMin) / 8);
                for (double x = Math.ceil(xMin / xStep) * xStep; x <= xMax; x += xStep) {
                    g.setColor(Color.DARK_GRAY);
                    String text = number(x, xStep);
                    g.drawString(text, (int) px(x) - g.getFontMetrics().stringWidth(text) / 2, HEIGHT - BOTTOM + 16);
                }
            }
            g.setColor(Color.BLACK);
            g.drawLine(LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, HEIGHT - BOTTOM);
            g.drawLine(LEFT, TOP, LEFT, HEIGHT - BOTTOM);
            g.drawString(xLabel, (WIDTH - g.getFontMetrics().stringWidth(xLabel)) / 2, HEIGHT - 18);
            Graphics2D turned = (Graphics2D) g.create();
            turned.rotate(-Math.PI / 2);
            turned.drawString(yLabel, -(HEIGHT + g.getFontMetrics().stringWidth(yLabel)) / 2, 18);
            turned.dispose();
        }

        /** 1, 2 or 5 times a power of ten, at least {@code rough}. */
        private static double roundStep(double rough) {
            double power = Math.pow(10, Math.floor(Math.log10(rough)));
            for (double m : new double[] {1, 2, 5, 10}) {
                if (m * power >= rough) {
                    return m * power;
                }
            }
            return 10 * power;
        }

        private static String number(double v, double step) {
            return step >= 1 ? String.format(Locale.ROOT, "%.0f", v)
                    : String.format(Locale.ROOT, "%." + (int) Math.ceil(-Math.log10(step)) + "f", v);
        }
    }
}
