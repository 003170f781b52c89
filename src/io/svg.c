/* SVG charts and cell graphs for the HTML report (svg.h). Coordinates are printed with one
 * decimal: enough for the eye, and it keeps a page of a few thousand points small. */
#include "svg.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_DRAWN 2000 /* points per series drawn; longer series are thinned */
#define MAX_TICKS 24

void dnas_svg_escape(dnas_sbuf *sb, const char *text) {
    if (!text) return;
    const char *run = text;
    for (const char *p = text;; p++) {
        const char *rep = NULL;
        switch (*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        if (!rep && *p) continue;
        if (p > run) dnas_sb_printf(sb, "%.*s", (int)(p - run), run);
        if (!*p) break;
        dnas_sb_printf(sb, "%s", rep);
        run = p + 1;
    }
}

const char *dnas_svg_css(void) {
    return "svg.chart,svg.cell{font:11px system-ui,-apple-system,'Segoe UI',sans-serif;"
           "background:#fff;border:1px solid #e3e6ea;border-radius:6px;max-width:100%;height:auto}\n"
           "svg .ax{stroke:#8a939c;stroke-width:1;fill:none}\n"
           "svg .grid{stroke:#eef0f2;stroke-width:1}\n"
           "svg .tk{fill:#5f6b76;font-size:10px}\n"
           "svg .ttl{fill:#1f2a33;font-weight:600;font-size:12px}\n"
           "svg .lab{fill:#5f6b76;font-size:10px}\n"
           "svg .ln{fill:none;stroke-width:1.6;stroke-linejoin:round;stroke-linecap:round}\n"
           "svg .ln:hover{stroke-width:3}\n"
           "svg .nodata{fill:#9aa3ab;font-style:italic}\n"
           "svg .node{fill:#f6f8fa;stroke:#44515c;stroke-width:1.4}\n"
           "svg .nodeo{fill:#e8eef5;stroke:#44515c;stroke-width:1.4}\n"
           "svg .ntx{fill:#1f2a33;font-size:11px;font-weight:600}\n"
           "svg .edge{fill:none;stroke-width:2.2}\n"
           "svg .below{fill:none;stroke:#b7bec5;stroke-width:1.2}\n"
           "svg .elab{font-size:11px;font-weight:600}\n"
           "svg .halo{fill:#fff;stroke:#fff;stroke-width:4px;stroke-linejoin:round}\n";
}

/* ---- ticks ------------------------------------------------------------------------------- */

/* 1, 2 or 5 times a power of ten, about range/target. */
static double nice_step(double range, int target, int whole) {
    if (!(range > 0)) range = 1;
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
    if (whole && step < 1) step = 1;
    return step;
}

/* A tick label: as few decimals as the step needs; thousands as "12k". */
static void tick_label(char *buf, size_t cap, double v, double step) {
    const char *suffix = "";
    if (step >= 1000 && fabs(v) >= 1000) {
        v /= 1000;
        step /= 1000;
        suffix = "k";
    }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) dec = 6;
    snprintf(buf, cap, "%.*f%s", dec, fabs(v) < step * 1e-9 ? 0.0 : v, suffix);
}

typedef struct {
    double x0, x1, y0, y1;       /* data range */
    double px0, px1, py0, py1;   /* plot area in pixels (py0 = bottom) */
} frame;

static double fx(const frame *f, double x) {
    return f->x1 > f->x0 ? f->px0 + (x - f->x0) / (f->x1 - f->x0) * (f->px1 - f->px0)
                         : (f->px0 + f->px1) / 2;
}
static double fy(const frame *f, double y) {
    return f->py0 - (y - f->y0) / (f->y1 - f->y0) * (f->py0 - f->py1);
}

static void text_at(dnas_sbuf *sb, const char *cls, double x, double y, const char *anchor,
                    const char *fill, const char *text) {
    dnas_sb_printf(sb, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\"", cls, x, y);
    if (anchor) dnas_sb_printf(sb, " text-anchor=\"%s\"", anchor);
    if (fill) dnas_sb_printf(sb, " fill=\"%s\"", fill);
    dnas_sb_printf(sb, ">");
    dnas_svg_escape(sb, text);
    dnas_sb_printf(sb, "</text>");
}

/* Thinning stride that keeps a series at most MAX_DRAWN points. */
static int stride_of(int n) { return n > MAX_DRAWN ? (n + MAX_DRAWN - 1) / MAX_DRAWN : 1; }

/* The drawn indices: 0, k, 2k, ... and always the last one. */
static int next_drawn(int i, int k, int n) {
    if (i == n - 1) return n;
    return i + k < n ? i + k : n - 1;
}

static void draw_series(dnas_sbuf *sb, const frame *f, const dnas_svg_series *s) {
    int k = stride_of(s->n), pen = 0;
    double last_y = 0;
    dnas_sb_printf(sb, "<path class=\"ln\" stroke=\"%s\"%s d=\"", s->color ? s->color : "#333",
                   s->dashed ? " stroke-dasharray=\"5 3\"" : "");
    for (int i = 0; i < s->n; i = next_drawn(i, k, s->n)) {
        double x = s->x[i], y = s->y[i];
        if (!isfinite(x) || !isfinite(y)) {
            pen = 0;
        } else {
            if (pen && s->steps) dnas_sb_printf(sb, "L%.1f %.1f", fx(f, x), fy(f, last_y));
            dnas_sb_printf(sb, "%c%.1f %.1f", pen ? 'L' : 'M', fx(f, x), fy(f, y));
            pen = 1;
            last_y = y;
        }
    }
    dnas_sb_printf(sb, "\">");
    if (s->name) {
        dnas_sb_printf(sb, "<title>");
        dnas_svg_escape(sb, s->name);
        dnas_sb_printf(sb, "</title>");
    }
    dnas_sb_printf(sb, "</path>");
    if (!s->markers) return;
    for (int i = 0; i < s->n; i = next_drawn(i, k, s->n)) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue;
        dnas_sb_printf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.4\" fill=\"%s\"><title>",
                       fx(f, s->x[i]), fy(f, s->y[i]), s->color ? s->color : "#333");
        if (s->point_titles && s->point_titles[i]) {
            dnas_svg_escape(sb, s->point_titles[i]);
        } else {
            char buf[96];
            snprintf(buf, sizeof buf, "%s%s%g: %g", s->name ? s->name : "", s->name ? " at " : "",
                     s->x[i], s->y[i]);
            dnas_svg_escape(sb, buf);
        }
        dnas_sb_printf(sb, "</title></circle>");
    }
}

void dnas_svg_line_chart(dnas_sbuf *sb, const dnas_svg_chart *c, const dnas_svg_series *s, int ns) {
    int W = c->width > 0 ? c->width : 480, H = c->height > 0 ? c->height : 260;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int j = 0; j < ns; j++)
        for (int i = 0; i < s[j].n; i++)
            if (isfinite(s[j].x[i]) && isfinite(s[j].y[i])) {
                xmin = fmin(xmin, s[j].x[i]);
                xmax = fmax(xmax, s[j].x[i]);
                ymin = fmin(ymin, s[j].y[i]);
                ymax = fmax(ymax, s[j].y[i]);
            }
    int top = c->title || c->legend ? 26 : 10;
    frame f = {.px0 = c->ylabel ? 52 : 42, .px1 = W - 12, .py0 = H - (c->xlabel ? 34 : 22), .py1 = top};
    dnas_sb_printf(sb, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                   "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">", W, H, W, H);
    if (c->title) text_at(sb, "ttl", 8, 16, NULL, NULL, c->title);
    if (c->legend) { /* right-aligned, last series rightmost; ~6 px per character at 10 px */
        double x = W - 10;
        for (int j = ns - 1; j >= 0; j--) {
            if (!s[j].name) continue;
            x -= 6.0 * (double)strlen(s[j].name);
            text_at(sb, "lab", x, 16, NULL, NULL, s[j].name);
            dnas_sb_printf(sb, "<rect x=\"%.1f\" y=\"9\" width=\"10\" height=\"8\" rx=\"2\" fill=\"%s\"/>",
                           x - 14, s[j].color ? s[j].color : "#333");
            x -= 24;
        }
    }
    if (!(xmin <= xmax)) {
        text_at(sb, "nodata", W / 2.0, H / 2.0, "middle", NULL, "no data yet");
        dnas_sb_printf(sb, "</svg>\n");
        return;
    }
    if (c->ymax > c->ymin) {
        ymin = c->ymin;
        ymax = c->ymax;
    } else {
        if (c->y_zero) {
            ymin = fmin(ymin, 0);
            ymax = fmax(ymax, 0);
        }
        if (ymax - ymin < 1e-12) { /* a flat line: give it room */
            double pad = fabs(ymax) > 1e-12 ? fabs(ymax) * 0.1 : 1;
            ymin -= c->y_zero && ymin >= 0 ? 0 : pad;
            ymax += pad;
        }
    }
    double ys = nice_step(ymax - ymin, 5, c->y_int), xs = nice_step(xmax - xmin, 6, 1);
    if (!(c->ymax > c->ymin)) {
        ymin = floor(ymin / ys + 1e-9) * ys;
        ymax = ceil(ymax / ys - 1e-9) * ys;
        if (ymax <= ymin) ymax = ymin + ys;
    }
    f.x0 = xmin;
    f.x1 = xmax;
    f.y0 = ymin;
    f.y1 = ymax;
    char buf[64];
    /* Ticks by index, not by adding: a step below the values' precision must not loop. */
    double y_first = ceil(ymin / ys - 1e-9) * ys, x_first = ceil(xmin / xs - 1e-9) * xs;
    for (int i = 0; i < MAX_TICKS; i++) {
        double v = y_first + i * ys, y = fy(&f, v);
        if (!(v <= ymax + ys * 1e-9)) break;
        dnas_sb_printf(sb, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                       f.px0, f.px1, y, y);
        tick_label(buf, sizeof buf, v, ys);
        text_at(sb, "tk", f.px0 - 4, y + 3.5, "end", NULL, buf);
    }
    for (int i = 0; i < MAX_TICKS; i++) {
        double v = x_first + i * xs, x = fx(&f, v);
        if (!(v <= xmax + xs * 1e-9)) break;
        dnas_sb_printf(sb, "<line class=\"ax\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                       x, x, f.py0, f.py0 + 4);
        tick_label(buf, sizeof buf, v, xs);
        text_at(sb, "tk", x, f.py0 + 15, "middle", NULL, buf);
    }
    dnas_sb_printf(sb, "<path class=\"ax\" d=\"M%.1f %.1fV%.1fH%.1f\"/>", f.px0, f.py1, f.py0, f.px1);
    if (c->xlabel) text_at(sb, "lab", (f.px0 + f.px1) / 2, H - 5, "middle", NULL, c->xlabel);
    if (c->ylabel) {
        dnas_sb_printf(sb, "<text class=\"lab\" text-anchor=\"middle\" transform=\"translate(11 %.1f) "
                       "rotate(-90)\">", (f.py0 + f.py1) / 2);
        dnas_svg_escape(sb, c->ylabel);
        dnas_sb_printf(sb, "</text>");
    }
    for (int j = 0; j < ns; j++)
        if (s[j].n > 0) draw_series(sb, &f, &s[j]);
    dnas_sb_printf(sb, "</svg>\n");
}

/* ---- cell graphs ------------------------------------------------------------------------- */

#define NODE_GAP 132.0
#define NODE_R 17.0
#define ARC_H0 26.0   /* apex height of a span-1 arc above the node tops */
#define ARC_DH 24.0   /* added per extra span */

void dnas_svg_cell(dnas_sbuf *sb, const char *title, const dnas_svg_node *nodes, int n_nodes,
                   const dnas_svg_edge *edges, int n_edges) {
    int max_span = 1, below = 0;
    for (int e = 0; e < n_edges; e++) {
        int span = edges[e].to - edges[e].from;
        if (edges[e].below) below = 1;
        else if (span > max_span) max_span = span;
    }
    double top = (title ? 30 : 10) + ARC_H0 + ARC_DH * (max_span - 1) + 10;
    double y0 = top + NODE_R, x0 = 40;
    int W = (int)(x0 * 2 + NODE_GAP * (n_nodes > 1 ? n_nodes - 1 : 0));
    int H = (int)(y0 + NODE_R + (below ? 46 : 14));
    dnas_sb_printf(sb, "<svg class=\"cell\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                   "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">", W, H, W, H);
    if (title) text_at(sb, "ttl", 8, 16, NULL, NULL, title);
    /* Edges under the nodes; labels last, so that no arc crosses a label. */
    for (int pass = 0; pass < 2; pass++)
        for (int e = 0; e < n_edges; e++) {
            const dnas_svg_edge *d = &edges[e];
            if (d->from < 0 || d->to >= n_nodes || d->from >= d->to) continue;
            double xa = x0 + NODE_GAP * d->from, xb = x0 + NODE_GAP * d->to;
            int span = d->to - d->from;
            if (d->below) {
                if (pass) continue;
                double h = 14 + 8.0 * span / (n_nodes > 1 ? n_nodes - 1 : 1) * 2;
                dnas_sb_printf(sb, "<path class=\"below\" d=\"M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1f\"/>",
                               xa, y0 + NODE_R, xa, y0 + NODE_R + h / 0.75, xb, y0 + NODE_R + h / 0.75,
                               xb, y0 + NODE_R);
                continue;
            }
            double h = ARC_H0 + ARC_DH * (span - 1), ya = y0 - NODE_R, ctrl = ya - h / 0.75;
            const char *col = d->color ? d->color : "#44515c";
            if (!pass) {
                dnas_sb_printf(sb, "<path class=\"edge\" stroke=\"%s\"%s d=\"M%.1f %.1fC%.1f %.1f %.1f "
                               "%.1f %.1f %.1f\">", col, d->dashed ? " stroke-dasharray=\"4 4\"" : "",
                               xa, ya, xa, ctrl, xb, ctrl, xb, ya);
                if (d->label) {
                    dnas_sb_printf(sb, "<title>");
                    dnas_svg_escape(sb, d->label);
                    dnas_sb_printf(sb, "</title>");
                }
                dnas_sb_printf(sb, "</path>");
            } else if (d->label) { /* a white halo first (paint-order is not everywhere) */
                text_at(sb, "elab halo", (xa + xb) / 2, ya - h + 4, "middle", NULL, d->label);
                text_at(sb, "elab", (xa + xb) / 2, ya - h + 4, "middle", col, d->label);
            }
        }
    for (int i = 0; i < n_nodes; i++) {
        double x = x0 + NODE_GAP * i;
        if (nodes[i].output)
            dnas_sb_printf(sb, "<rect class=\"nodeo\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                           "height=\"%.1f\" rx=\"4\"/>", x - NODE_R, y0 - NODE_R, 2 * NODE_R, 2 * NODE_R);
        else
            dnas_sb_printf(sb, "<circle class=\"node\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"/>", x, y0, NODE_R);
        text_at(sb, "ntx", x, y0 + 4, "middle", NULL, nodes[i].label ? nodes[i].label : "");
    }
    dnas_sb_printf(sb, "</svg>\n");
}
