"""advapi32's side of a service program: StartServiceCtrlDispatcher, RegisterServiceCtrlHandler(Ex) and
SetServiceStatus, as Windows answers them in a program that the service control manager did not start.

winhatch runs every program as a console (or GUI) program: no service control manager started it, so the
dispatcher cannot connect to it and StartServiceCtrlDispatcher fails with ERROR_FAILED_SERVICE_CONTROLLER_CONNECT
(Microsoft's documentation: "returned if the program is being run as a console application rather than as a
service"). The process's dispatcher table therefore names no service: RegisterServiceCtrlHandler(Ex) fails with
ERROR_SERVICE_DOES_NOT_EXIST, and no service status handle exists for SetServiceStatus (ERROR_INVALID_HANDLE).
The service control manager's own API (OpenSCManager, OpenService, QueryServiceStatus...) is in
service_scm.py."""
from __future__ import annotations

from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

ADV = "advapi32.dll"
ERROR_INVALID_HANDLE = 6
ERROR_SERVICE_DOES_NOT_EXIST = 1060
ERROR_FAILED_SERVICE_CONTROLLER_CONNECT = 1063


@api(ADV, "BOOL WINAPI StartServiceCtrlDispatcher%(const void *lpServiceStartTable)")
def StartServiceCtrlDispatcher(c, table):
    if not table:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.set_last_error(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
    return 0


@api(ADV, "SERVICE_STATUS_HANDLE WINAPI RegisterServiceCtrlHandler%(LPCTSTR lpServiceName, void *lpHandlerProc)")
def RegisterServiceCtrlHandler(c, name, proc):
    c.set_last_error(ERROR_SERVICE_DOES_NOT_EXIST)
    return 0


@api(ADV, "SERVICE_STATUS_HANDLE WINAPI RegisterServiceCtrlHandlerEx%(LPCTSTR lpServiceName, void *lpHandlerProc, "
          "LPVOID lpContext)")
def RegisterServiceCtrlHandlerEx(c, name, proc, ctx):
    c.set_last_error(ERROR_SERVICE_DOES_NOT_EXIST)
    return 0


@api(ADV, "BOOL WINAPI SetServiceStatus(SERVICE_STATUS_HANDLE hServiceStatus, LPVOID lpServiceStatus)")
def SetServiceStatus(c, h, status):
    c.set_last_error(ERROR_INVALID_HANDLE)      # no status handle exists: no service runs in this process
    return 0
