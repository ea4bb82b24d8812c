/* lvdefine.c: the libvirt limit for the create benchmark.
 *
 * Defines N minimal domains named PREFIX-1..N through the libvirt C API on
 * one connection, the way a program talking to libvirt directly would, and
 * prints the elapsed milliseconds.  With -u it undefines them instead.
 *
 *   lvdefine URI PREFIX N [-u]
 */
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: lvdefine URI PREFIX N [-u]\n");
        return 2;
    }
    int n = atoi(argv[3]);
    int undefine = argc > 4 && !strcmp(argv[4], "-u");
    virConnectPtr c = virConnectOpen(argv[1]);
    if (!c)
        return 1;
    int failed = 0;
    long long t0 = now_ms();
    for (int i = 1; i <= n; i++) {
        char name[128], xml[1024];
        snprintf(name, sizeof(name), "%s-%d", argv[2], i);
        if (undefine) {
            virDomainPtr d = virDomainLookupByName(c, name);
            if (!d || virDomainUndefine(d) < 0)
                failed++;
            if (d)
                virDomainFree(d);
            continue;
        }
        snprintf(xml, sizeof(xml),
                 "<domain type='kvm'><name>%s</name><memory unit='KiB'>65536</memory>"
                 "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>", name);
        virDomainPtr d = virDomainDefineXML(c, xml);
        if (!d)
            failed++;
        else
            virDomainFree(d);
    }
    printf("%lld\n", now_ms() - t0);
    virConnectClose(c);
    return failed ? 1 : 0;
}
