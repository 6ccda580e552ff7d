// Maps the library's exceptions to Python ones that name the argument:
//   hisa::DTypeError    -> hisa.DTypeError    (a TypeError)
//   hisa::ArgumentError -> hisa.ArgumentError (a ValueError)
//   hisa::BackendError  -> hisa.BackendError  (a RuntimeError)
// The first two carry `.argument` (e.g. "q", "ks") besides the message "argument: what".
#include <exception>

#include "bindings.hpp"
#include "hisa/error.hpp"

namespace hisa::py {
namespace {

PyObject* g_argument_error = nullptr;
PyObject* g_dtype_error = nullptr;
PyObject* g_backend_error = nullptr;

void raise_with_argument(PyObject* type, const char* message, const std::string& argument) {
  PyObject* exc = PyObject_CallFunction(type, "s", message);
  if (exc == nullptr) return;  // the failed call has set a Python error already
  PyObject* name = PyUnicode_FromStringAndSize(argument.data(), (Py_ssize_t)argument.size());
  if (name != nullptr) {
    PyObject_SetAttrString(exc, "argument", name);
    Py_DECREF(name);
  }
  PyErr_SetObject(type, exc);
  Py_DECREF(exc);
}

void translate(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const DTypeError& e) {  // before ArgumentError: it derives from it
    raise_with_argument(g_dtype_error, e.what(), e.argument());
  } catch (const ArgumentError& e) {
    raise_with_argument(g_argument_error, e.what(), e.argument());
  } catch (const BackendError& e) {
    PyErr_SetString(g_backend_error, e.what());
  }
  // Anything else propagates to nanobind's default translators.
}

}  // namespace

void bind_errors(nb::module_& m) {
  // Created once per interpreter; the module keeps them alive.
  g_argument_error = PyErr_NewExceptionWithDoc(
      "hisa.ArgumentError", "Bad input: shape, dtype, range or value policy (a ValueError).",
      PyExc_ValueError, nullptr);
  g_dtype_error = PyErr_NewExceptionWithDoc(
      "hisa.DTypeError", "The dtype of an argument is not supported (a TypeError).",
      PyExc_TypeError, nullptr);
  g_backend_error = PyErr_NewExceptionWithDoc(
      "hisa.BackendError",
      "The backend cannot run here: no CUDA build, no GPU, CUDA failure (a RuntimeError).",
      PyExc_RuntimeError, nullptr);
  if (!g_argument_error || !g_dtype_error || !g_backend_error) throw nb::python_error();
  m.attr("ArgumentError") = nb::handle(g_argument_error);
  m.attr("DTypeError") = nb::handle(g_dtype_error);
  m.attr("BackendError") = nb::handle(g_backend_error);
  nb::register_exception_translator(&translate);
}

}  // namespace hisa::py
