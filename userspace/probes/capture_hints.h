#pragma once

#include "sockets.h"

namespace zerotrace {

// Tells the kernel side which bytes of a connection need not be copied (sockets.h,
// sock_skip_value): the rest of a large body the parser skips by its declared length, or all of a
// connection whose protocol is not recognised. Implemented by SocketsProbe; optional.
class CaptureHints {
 public:
  virtual ~CaptureHints() = default;
  // False when the hint could not be stored (its map full): capture simply goes on.
  virtual bool SetSkip(const sock_skip_key& key, const sock_skip_value& value) = 0;
  virtual void ClearSkip(const sock_skip_key& key) = 0;
};

}  // namespace zerotrace
