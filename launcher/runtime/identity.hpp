// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

namespace bluepython {

// A random (version 4) UUID, as text: each process's sensor instance.
std::string make_uuid();

// The host name (in a container: the container's), empty if it cannot be had.
std::string host_name();

}  // namespace bluepython
