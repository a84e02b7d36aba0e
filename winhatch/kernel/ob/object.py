"""KObject: the common header of every executive object (reference and handle counts, name)."""
from __future__ import annotations

from typing import ClassVar

from ...ntstatus import STATUS_INVALID_PARAMETER, NtStatusError
from .access import ObjectType, object_type


class KObject:
    """Base class of every kernel object.

    Reference counting (as ``ObReferenceObject`` / ``ObDereferenceObject``): a new object starts with
    ``refcount == 0`` and no owner; every handle and every :meth:`reference` adds one.  When the count
    drops back to zero :meth:`on_delete` runs once (and the object leaves the namespace if named).
    ``handle_count`` counts open handles; when it drops to zero the object's name is removed from the
    namespace unless the object is permanent (``ObpDeleteNameCheck``).
    Subclasses set ``type_name`` ("Process", "Event", …).
    """

    type_name: ClassVar[str] = "Object"

    def __init__(self, name: str | None = None):
        self.name = name
        self.refcount = 0
        self.handle_count = 0
        self.deleted = False
        self.permanent = False
        self._namespace = None  # set by ObNamespace.insert

    @property
    def object_type(self) -> ObjectType:
        return object_type(self.type_name)

    def reference(self) -> "KObject":
        if self.deleted:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"reference to deleted {self.type_name} object")
        self.refcount += 1
        return self

    def dereference(self) -> None:
        if self.refcount <= 0:
            raise NtStatusError(STATUS_INVALID_PARAMETER, f"{self.type_name} object over-dereferenced")
        self.refcount -= 1
        if self.refcount == 0:
            self._delete()

    def _delete(self) -> None:
        if self.deleted:
            return
        self.deleted = True
        if self._namespace is not None:
            self._namespace.remove(self)
        self.on_delete()

    # --- handle-count bookkeeping (called by HandleTable) ---------------------------------------------
    def _open_handle(self) -> None:
        self.handle_count += 1
        self.reference()

    def _close_handle(self) -> None:
        self.handle_count -= 1
        if self.handle_count == 0:
            if self._namespace is not None and not self.permanent:
                self._namespace.remove(self)
            self.on_last_handle_close()
        self.dereference()

    def make_permanent(self) -> None:
        """ObMakePermanentObject: the name survives the last handle (a reference keeps it alive)."""
        if not self.permanent:
            self.permanent = True
            self.reference()

    def make_temporary(self) -> None:
        """NtMakeTemporaryObject: drop the permanent reference; the name goes with the last handle."""
        if self.permanent:
            self.permanent = False
            if self.handle_count == 0 and self._namespace is not None:
                self._namespace.remove(self)
            self.dereference()

    # --- hooks -------------------------------------------------------------------------------------
    def on_last_handle_close(self) -> None:
        """Called when the handle count drops to zero (e.g. a file's cleanup)."""

    def on_delete(self) -> None:
        """Called once when the reference count drops to zero (the object dies)."""

    def __repr__(self) -> str:
        n = f" {self.name!r}" if self.name else ""
        return f"<{self.type_name}{n} refs={self.refcount} handles={self.handle_count}>"
