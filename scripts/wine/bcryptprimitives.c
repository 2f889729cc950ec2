/*
 * Wine 8 (Debian 12) lacks bcryptprimitives.dll, which Rust's standard library imports on Windows for
 * ProcessPrng (HashMap seeds). This stand-in exists only for the Wine load test: it forwards to
 * RtlGenRandom (advapi32's SystemFunction036), which Wine has. Windows 10 and later ship the real DLL.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
