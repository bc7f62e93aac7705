//! `Layout`: the slots of one `__slots__` class that native code reads and writes in place,
//! as CPython's specialised attribute loads and stores do (a type check, then a load or a
//! store at a fixed offset), for objects whose class was checked to be exactly that class.

use super::slots::slot_offset;
use pyo3::exceptions::{PyAttributeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString, PyType};

/// The `N` classes a native piece is made with (a tuple from Python), whose slots it uses.
pub(crate) type Classes<'py, const N: usize> = [Bound<'py, PyType>; N];

/// The slots of one `__slots__` class that native code reads and writes.
pub(crate) struct Layout {
    ty: Py<PyType>,
    offsets: Vec<isize>,
}

impl Layout {
    /// `names`' slot offsets in `ty` (ValueError when one is not a writable object slot).
    pub(crate) fn new(ty: &Bound<'_, PyType>, names: &[&str]) -> PyResult<Self> {
        let py = ty.py();
        let offset = |name: &&str| {
            slot_offset(ty, &PyString::new(py, name)).map_err(|e| match e.is_instance_of::<PyAttributeError>(py) {
                true => PyValueError::new_err(format!(
                    "{name} is not a slot of {}",
                    ty.name().map(|n| n.to_string()).unwrap_or_default()
                )),
                false => e,
            })
        };
        let offsets = names.iter().map(offset).collect::<PyResult<_>>()?;
        Ok(Layout {
            ty: ty.clone().unbind(),
            offsets,
        })
    }

    /// The class.
    pub(crate) fn class<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        self.ty.bind(py).clone()
    }

    /// Whether `obj` is exactly an instance of the class (then `get` and `set` may be used).
    #[inline]
    pub(crate) fn is(&self, obj: &Bound<'_, PyAny>) -> bool {
        // SAFETY: ob_type of a live object (the Bound holds a reference) is a valid pointer.
        unsafe { ffi::Py_TYPE(obj.as_ptr()) == self.ty.as_ptr() as *mut ffi::PyTypeObject }
    }

    /// Slot `i` of `obj`, None when it is empty.
    ///
    /// # Safety
    /// `obj` must be exactly an instance of the class (`is`).
    #[inline]
    pub(crate) unsafe fn get<'py>(&self, obj: &Bound<'py, PyAny>, i: usize) -> Option<Bound<'py, PyAny>> {
        // SAFETY: the class's layout has an object slot at this offset, inside its instance
        // size (checked by slot_offset); the GIL is held, so nothing writes the slot while we
        // read it, and from_borrowed_ptr takes a strong reference before Python code can run.
        unsafe {
            let slot = *((obj.as_ptr() as *const u8).offset(self.offsets[i]) as *const *mut ffi::PyObject);
            (!slot.is_null()).then(|| Bound::from_borrowed_ptr(obj.py(), slot))
        }
    }

    /// Slot `i` of `obj` set to `value` (what `obj.name = value` does for a slot).
    ///
    /// # Safety
    /// `obj` must be exactly an instance of the class (`is`).
    #[inline]
    pub(crate) unsafe fn set(&self, obj: &Bound<'_, PyAny>, i: usize, value: Bound<'_, PyAny>) {
        // SAFETY: as in `get`, the slot is a writable object slot of the class (slot_offset
        // refuses read-only ones). The slot takes `value`'s reference; the old value's is
        // dropped after the write, so code its release runs sees the slot already set.
        unsafe {
            let slot = (obj.as_ptr() as *mut u8).offset(self.offsets[i]) as *mut *mut ffi::PyObject;
            let old = std::mem::replace(&mut *slot, value.into_ptr());
            ffi::Py_XDECREF(old);
        }
    }
}

/// Whether `v` is exactly the object `False` (a bool slot the usual case keeps False).
#[inline]
pub(crate) fn is_false(v: &Option<Bound<'_, PyAny>>) -> bool {
    matches!(v, Some(v) if v.is(PyBool::new(v.py(), false)))
}

/// Whether `v` holds None.
#[inline]
pub(crate) fn is_none(v: &Option<Bound<'_, PyAny>>) -> bool {
    matches!(v, Some(v) if v.is_none())
}
