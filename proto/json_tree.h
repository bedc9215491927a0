/* json_tree.h: between the text of json.h and jansson's trees, for code
 * that wants a tree after all (handlers written against jansson, tests,
 * the fuzz target that holds our reading to jansson's).
 *
 * goc_json_tree() builds jansson's tree of a value a scan accepted, equal
 * (json_equal) to what json_loadb would give for the same text with
 * JSON_DECODE_ANY | JSON_ALLOW_NUL, with one difference each way:
 *   - an integer beyond 64 bits becomes a real (jansson refuses the text,
 *     or with JSON_DECODE_INT_AS_REAL makes every number a real);
 *   - an object key holding \u0000 is kept (jansson refuses the text;
 *     RFC 8259 allows it).
 * goc_json_tree_write() writes a tree as json_dumps(JSON_COMPACT |
 * JSON_ENCODE_ANY) would, into a buf_t.
 */
#ifndef GOC_PROTO_JSON_TREE_H
#define GOC_PROTO_JSON_TREE_H

#include <jansson.h>

#include "json.h"

/* Builds the tree of v (from a scan). Returns 0 with *out a new reference,
 * or -ENOMEM (*out NULL). */
int goc_json_tree(const goc_json_value *v, json_t **out);

/* Appends the text of tree v (borrowed; NULL writes null). Keys and
 * strings that are not valid UTF-8 have U+FFFD in place of the bad bytes
 * (jansson's dump fails instead). Errors: as the buffer's. */
void goc_json_tree_write(buf_t *b, const json_t *v);

#endif
