// SPDX-License-Identifier: Apache-2.0
// Side effects of the network category that need more than their arguments:
// socket connects, sends and binds (family, type, host and port), and
// urllib requests (the URL without credentials). Lookups and http.client
// connects go through report_members.
#include <sys/socket.h>

#include <string>

#include "capture/event_args.hpp"
#include "capture/folding.hpp"
#include "capture/handlers.hpp"
#include "capture/library_events.hpp"
#include "capture/url_safety.hpp"
#include "pyapi/py_json.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::capture {
namespace {

py_ref socket_attr(PyObject* sock, const char* name) noexcept {
  if (sock == nullptr) return {};
  py_ref value(PyObject_GetAttrString(sock, name));
  if (!value) PyErr_Clear();
  return value;
}

void family_name(json_writer& w, PyObject* family) {
  long value = family != nullptr && PyLong_Check(family) ? PyLong_AsLong(family) : -1;
  if (value == -1 && PyErr_Occurred() != nullptr) PyErr_Clear();
  switch (value) {
    case AF_INET: w.string("inet"); break;
    case AF_INET6: w.string("inet6"); break;
    case AF_UNIX: w.string("unix"); break;
    default:
      if (value < 0) {
        w.null();
      } else {
        w.integer(value);
      }
  }
}

}  // namespace

void socket_address(const audit_event& e, PyObject* args) {
  PyObject* sock = arg(args, 0);
  PyObject* address = arg(args, 1);
  const py_ref family = socket_attr(sock, "family");
  const py_ref type = socket_attr(sock, "type");
  event_attrs a(e.name);
  json_writer& w = a.w;
  w.key("family");
  family_name(w, family.get());
  w.key("type");
  long type_value = type && PyLong_Check(type.get()) ? PyLong_AsLong(type.get()) : -1;
  if (type_value == -1 && PyErr_Occurred() != nullptr) PyErr_Clear();
  type_value &= ~static_cast<long>(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (type_value == SOCK_STREAM) {
    w.string("stream");
  } else if (type_value == SOCK_DGRAM) {
    w.string("datagram");
  } else if (type_value < 0) {
    w.null();
  } else {
    w.integer(type_value);
  }
  if (address != nullptr && PyTuple_Check(address) && PyTuple_GET_SIZE(address) >= 2) {
    w.key("host");
    encode_python_value(w, PyTuple_GET_ITEM(address, 0));
    w.key("port");
    encode_python_value(w, PyTuple_GET_ITEM(address, 1));
  } else {
    w.key("address");  // AF_UNIX paths and anything else, as given
    value_or_null(w, address);
  }
  report(e.reports, a.text);
}

namespace {
bool g_urllib_hooked = false;  // GIL-guarded
}  // namespace

PyObject* py_urllib_hooked(PyObject* /*self*/, PyObject* /*unused*/) {
  g_urllib_hooked = true;
  Py_RETURN_NONE;
}

// urllib.Request (url, data, headers, method): the URL as safe_url shows it.
// Once the hooks wrap OpenerDirector.open (which reports the request when it
// is done, with its status), the audit event is left to them.
void url_request(const audit_event& e, PyObject* args) {
  if (g_urllib_hooked) return;
  PyObject* url = arg(args, 0);
  event_attrs a(e.name);
  json_writer& w = a.w;
  w.key("url");
  Py_ssize_t size = 0;
  const char* text = url != nullptr && PyUnicode_Check(url) ? PyUnicode_AsUTF8AndSize(url, &size) : nullptr;
  if (text != nullptr) {
    w.string(safe_url(std::string_view(text, static_cast<std::size_t>(size))));
  } else {
    PyErr_Clear();
    value_or_null(w, url);
  }
  w.key("method");
  value_or_null(w, arg(args, 3));
  report(e.reports, a.text);
}

}  // namespace bluepython::capture
