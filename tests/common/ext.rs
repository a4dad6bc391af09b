//! For the tests of per-interpreter GILs: whether the embedded Python has
//! them, and a C extension module that cannot be loaded into one.

use std::path::Path;
use std::process::Command;

use super::dir::TestDir;
use super::{PYTHON_EXECUTABLE, PYTHON_VERSION};

/// Whether the embedded Python is 3.12 or later (PEP 684).
pub fn at_least_3_12() -> bool {
    let mut parts = PYTHON_VERSION.split('.').map(|p| p.parse::<u32>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap()) >= (3, 12)
}

/// A single-phase-init extension module (no multi-interpreter support), as
/// many older C extensions still are, compiled for the embedded Python.
pub fn build_legacy_extension(dir: &TestDir) {
    let source = dir.write(
        "legacy_ext.c",
        r#"
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "legacy_ext", NULL, -1, methods};
PyMODINIT_FUNC PyInit_legacy_ext(void) { return PyModule_Create(&def); }
"#,
    );
    let out = Command::new(PYTHON_EXECUTABLE)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include']); print(sysconfig.get_config_var('EXT_SUFFIX'))",
        ])
        .output()
        .expect("run the embedded Python");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let (include, suffix) = (lines.next().unwrap(), lines.next().unwrap());
    assert!(
        Path::new(include).join("Python.h").exists(),
        "Python.h missing under {include}: install the Python development headers (scripts/setup.sh does)"
    );
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-I", include, "-o"])
        .arg(dir.0.join(format!("legacy_ext{suffix}")))
        .arg(&source)
        .status()
        .expect("cc (apt-get install build-essential)");
    assert!(status.success(), "compiling legacy_ext.c failed");
}
