/* Inline SVG for the HTML report: line charts (axes with round-number ticks, named series,
 * hover titles, no JavaScript) and a cell drawn as a graph (nodes in a row, edges as arcs
 * labelled by op). Output is appended to a dnas_sbuf; the classes it uses are styled by
 * dnas_svg_css(), which a page includes once in its <style>. */
#ifndef DNAS_IO_SVG_H
#define DNAS_IO_SVG_H
#include "files.h"

/* Appends `text` with & < > " ' escaped (HTML text and attribute values alike). */
void dnas_svg_escape(dnas_sbuf *sb, const char *text);

/* The CSS rules the charts' classes need. */
const char *dnas_svg_css(void);

typedef struct {
    const char *name;        /* legend entry and hover text; NULL = none */
    const char *color;       /* any CSS colour */
    const double *x, *y;     /* n points; a non-finite y breaks the line */
    int n;
    int dashed;
    int markers;             /* a dot on every point, with a hover title */
    int steps;               /* draw as a step function (counts) */
    const char *const *point_titles; /* optional hover text per point (markers only) */
} dnas_svg_series;

typedef struct {
    int width, height;       /* pixels */
    const char *title;       /* drawn top left; NULL = none */
    const char *xlabel, *ylabel;
    double ymin, ymax;       /* a fixed y range when ymax > ymin, else fitted to the data */
    int y_zero;              /* the fitted range includes 0 */
    int y_int;               /* ticks on whole numbers only */
    int legend;              /* a legend of the named series, top right */
} dnas_svg_chart;

/* One <svg> line chart. Series longer than a few thousand points are thinned for drawing
 * (every k-th point and the last); a chart without finite points says "no data". */
void dnas_svg_line_chart(dnas_sbuf *sb, const dnas_svg_chart *c, const dnas_svg_series *s, int ns);

typedef struct {
    const char *label;       /* drawn in the node */
    int output;              /* drawn as the cell output (square) */
} dnas_svg_node;

typedef struct {
    int from, to;            /* node indices, from < to */
    const char *label;       /* op name; NULL = unlabelled */
    const char *color;
    int dashed;              /* e.g. a 'none' edge */
    int below;               /* drawn under the row, thin and grey (a concat into the output) */
} dnas_svg_edge;

/* One <svg> of a cell: nodes left to right, each edge an arc above the row whose height grows
 * with the span, so that labels of different edges never share a place. */
void dnas_svg_cell(dnas_sbuf *sb, const char *title, const dnas_svg_node *nodes, int n_nodes,
                   const dnas_svg_edge *edges, int n_edges);

#endif
