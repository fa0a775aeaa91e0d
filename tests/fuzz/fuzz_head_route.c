/*
 * fuzz_head_route.c - libFuzzer target for the acceptor's request-head classifier
 * (transport/head_route.c): one input is the bytes a client sent first. Must never read
 * past them (a copy of exactly that size), never wait once told nothing more comes, and
 * never change its mind: what a prefix decided, the whole input decides too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/head_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *head = malloc(size ? size : 1);
    gw_route_t whole, half;

    if (!head)
        return 0;
    memcpy(head, data, size);
    whole = gw_head_route(head, size, false);
    if (gw_head_route(head, size, true) == GW_ROUTE_WAIT)
        abort();
    half = gw_head_route(head, size / 2, false);
    if (half != GW_ROUTE_WAIT && half != whole)
        abort();
    free(head);
    return 0;
}
