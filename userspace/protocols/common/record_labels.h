#pragma once

#include <string>
#include <string_view>

#include "core/utf8.h"
#include "protocols/common/request_record.h"
#include "protocols/common/route_templater.h"

namespace zerotrace::protocols {

// What a client sends ends up in metric labels and span attributes, so before a record leaves a
// parser its label-bound fields are made safe:
// - `method` outside the registered HTTP methods becomes "_OTHER" (OTel semantic conventions);
//   any "FOO1", "FOO2", ... would otherwise be a new series each;
// - `route` comes from the bounded `templater`; exchanges that found nothing (unparsed, 404,
//   gRPC UNIMPLEMENTED) may add routes to at most a quarter of it: a scanner's thousands of
//   missing paths would otherwise fill the table for the process's lifetime;
// - gRPC `rpc_service`/`rpc_method` become "other" with the route, for the same bound;
// - every text field is valid UTF-8 (bad bytes become U+FFFD): one invalid byte in a label value
//   makes Prometheus reject the whole scrape, and OTLP receivers reject the batch;
// - label-bound fields (route, host, gRPC names) are at most kMaxLabelValueBytes (core/utf8.h).
// `templater` may be null (tests): routes are then templated but not bounded.
void FinalizeLabels(RequestRecord& r, RouteTemplater* templater);

bool IsKnownHttpMethod(std::string_view method);

}  // namespace zerotrace::protocols
