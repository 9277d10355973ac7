/* core.h - everything private to the core, for the modules of libdptrace that build on
 * it (propagation, export, async). Core's own files include only the headers they use.
 * Nothing here is API or exported from the shared library.
 */
#ifndef DPT_CORE_H
#define DPT_CORE_H

#include "common.h"
#include "clock.h"
#include "ids.h"
#include "pool.h"
#include "processor.h"
#include "provider.h"
#include "counters.h"
#include "sampler.h"
#include "tracestate.h"
#include "context.h"
#include "attr.h"
#include "redact.h"
#include "span.h"

#endif
