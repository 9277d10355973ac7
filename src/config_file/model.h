/* model.h - a configuration file's tree checked against the schema and mapped onto the
 * configuration model (model.c). libdptrace-config's private interface. */
#ifndef DPT_CONFIG_FILE_MODEL_H
#define DPT_CONFIG_FILE_MODEL_H

#include "config.h"
#include "dptrace/config.h"
#include "tree.h"

#define DPT__CF_PATH_MAX 160

/* Fills c (initialised by the caller with dpt__config_init) from the document's root
 * node. exporter_paths[i] receives the path of exporter i (for errors when providers are
 * created). Returns false with err filled when the document does not follow the schema
 * or uses what dptrace does not support. */
DPT__HIDDEN bool dpt__model_from_tree(const dpt__node *root, dpt__config *c,
                                      char (*exporter_paths)[DPT__CF_PATH_MAX],
                                      dpt_config_error *err);

#endif
