// Umbrella header of the hisa C++ API.
#pragma once

#include "hisa/decode.hpp"
#include "hisa/error.hpp"
#include "hisa/metrics.hpp"
#include "hisa/numeric.hpp"
#include "hisa/select.hpp"
#include "hisa/spec.hpp"
#include "hisa/types.hpp"
#include "hisa/workload.hpp"
