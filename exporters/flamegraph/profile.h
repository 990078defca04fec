#pragma once

// The profile model (Frame, StackSample, Profile) lives below every consumer, in
// userspace/profile/ (symbolizer, probes and profiling build it; these writers only read it).
// The writers' namespace names its types, so `flamegraph::Profile` and `profile::Profile` are
// one type.

#include "profile/profile.h"

namespace zerotrace::flamegraph {

using profile::Frame;
using profile::FrameKind;
using profile::FrameLabel;
using profile::FrameName;
using profile::FunctionStat;
using profile::MergeIdenticalStacks;
using profile::Profile;
using profile::ProfileType;
using profile::ProfileTypeName;
using profile::StackSample;
using profile::TopFunctions;
using profile::TopOrder;
using profile::TotalValue;

}  // namespace zerotrace::flamegraph
