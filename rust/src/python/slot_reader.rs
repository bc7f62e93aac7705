//! `SlotReader`: named attributes of instances of one `__slots__` class read straight from
//! their slots, as CPython's specialised LOAD_ATTR reads them, with `getattr` for anything
//! else. A `getattr` from native code is a generic attribute look-up (~180 instructions, the
//! type's MRO searched for a descriptor each time); a slot read is a type check and a load.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

/// Reads named attributes of instances of one `__slots__` class straight from their slots
/// (what CPython's specialised LOAD_ATTR does), and through `getattr` for any other object
/// (a subclass, a stand-in) or a name that is not a plain object slot.
pub(crate) struct SlotReader {
    ty: Py<PyType>,
    names: Vec<Py<PyString>>,
    offsets: Vec<Option<isize>>, // byte offset of each name's slot in an instance of `ty`
}

impl SlotReader {
    pub(crate) fn new(ty: &Bound<'_, PyType>, names: &[Bound<'_, PyString>]) -> PyResult<Self> {
        let py = ty.py();
        let member_descriptor = py.import("types")?.getattr("MemberDescriptorType")?;
        // SAFETY: tp_basicsize is a plain field of a live type object (we hold a reference).
        let basicsize = unsafe { (*ty.as_type_ptr()).tp_basicsize };
        let mut offsets = Vec::with_capacity(names.len());
        for name in names {
            let descr = ty.getattr("__dict__")?.get_item(name).ok();
            let offset = descr.filter(|d| d.get_type().is(&member_descriptor)).and_then(|d| {
                // SAFETY: `d` is exactly a member_descriptor, i.e. a PyMemberDescrObject whose
                // d_member points at the PyMemberDef of `ty`'s slot (alive as long as `ty`,
                // which `self.ty` keeps). pyo3-ffi types d_member as PyGetSetDef; it is a
                // PyMemberDef in CPython (Include/cpython/descrobject.h), so the cast is right.
                let def = unsafe { &*((*(d.as_ptr() as *mut ffi::PyMemberDescrObject)).d_member as *const ffi::PyMemberDef) };
                let fits = def.offset > 0 && def.offset + std::mem::size_of::<*mut ffi::PyObject>() as isize <= basicsize;
                (def.type_code == ffi::Py_T_OBJECT_EX && fits).then_some(def.offset)
            });
            offsets.push(offset);
        }
        Ok(SlotReader { ty: ty.clone().unbind(), names: names.iter().map(|n| n.clone().unbind()).collect(), offsets })
    }

    /// Attribute `i` of `obj` (AttributeError when an instance's slot is empty, as getattr).
    pub(crate) fn get<'py>(&self, obj: &Bound<'py, PyAny>, i: usize) -> PyResult<Bound<'py, PyAny>> {
        self.read(obj, self.is_exact(obj), i)
    }

    /// Every named attribute of `obj`, in order, appended to `out` (what `get` gives for each
    /// name): the type checked once for all of them rather than once per name.
    pub(crate) fn get_all<'py>(&self, obj: &Bound<'py, PyAny>, out: &mut Vec<Bound<'py, PyAny>>) -> PyResult<()> {
        let exact = self.is_exact(obj);
        for i in 0..self.offsets.len() {
            out.push(self.read(obj, exact, i)?);
        }
        Ok(())
    }

    /// What `get_all` appends, as an array of the `N` names' values (no heap allocation: the
    /// log encoder reads a record's 29 attributes per request). A ValueError when the reader
    /// does not have exactly `N` names.
    pub(crate) fn get_array<'py, const N: usize>(&self, obj: &Bound<'py, PyAny>) -> PyResult<[Bound<'py, PyAny>; N]> {
        let py = obj.py();
        if self.offsets.len() != N {
            return Err(pyo3::exceptions::PyValueError::new_err(format!("reading {N} attributes with a reader of {}", self.offsets.len())));
        }
        let exact = self.is_exact(obj);
        let mut failed = None;
        let values = std::array::from_fn(|i| {
            if failed.is_none() {
                match self.read(obj, exact, i) {
                    Ok(value) => return value,
                    Err(err) => failed = Some(err),
                }
            }
            py.None().into_bound(py) // after a failure: a filler, never read
        });
        match failed {
            None => Ok(values),
            Some(err) => Err(err),
        }
    }

    /// Whether `obj` is exactly an instance of `ty` (not a subclass, not a stand-in).
    fn is_exact(&self, obj: &Bound<'_, PyAny>) -> bool {
        // SAFETY: ob_type of a live object (we hold a reference to `obj`) is a valid pointer.
        let ty = unsafe { ffi::Py_TYPE(obj.as_ptr()) };
        ty == self.ty.bind(obj.py()).as_type_ptr()
    }

    /// Attribute `i` of `obj`, from its slot when `exact` (`is_exact(obj)`) and the slot is set,
    /// else through getattr.
    fn read<'py>(&self, obj: &Bound<'py, PyAny>, exact: bool, i: usize) -> PyResult<Bound<'py, PyAny>> {
        let py = obj.py();
        if let (true, Some(offset)) = (exact, self.offsets[i]) {
            // SAFETY: `obj` is exactly an instance of `ty` (`exact`), whose layout has an object
            // slot (Py_T_OBJECT_EX) at `offset`, inside tp_basicsize (checked in new); we hold
            // the GIL, so nothing writes the slot while we read the pointer, and
            // from_borrowed_ptr takes a strong reference before any Python code can run.
            let slot = unsafe { *((obj.as_ptr() as *const u8).offset(offset) as *const *mut ffi::PyObject) };
            if !slot.is_null() {
                return Ok(unsafe { Bound::from_borrowed_ptr(py, slot) });
            }
        }
        obj.getattr(self.names[i].bind(py))
    }
}
