/*
 * vm_refs.h - the refs of the pool's VMs by uuid, as the agent's event stream last
 * published them (publish.c writes on the XAPI thread; the command workers read). A
 * command on a VM takes its ref from here instead of asking XAPI (VM.get_by_uuid: one round
 * trip less before the call); a uuid not known yet (a VM created a moment ago) or a ref
 * that XAPI no longer knows sends the command the old way (command_ops.c). Thread-safe.
 */
#ifndef XO_AGENT_VM_REFS_H
#define XO_AGENT_VM_REFS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct agent_vm_refs agent_vm_refs_t;

/** An empty table, or NULL on allocation failure. */
agent_vm_refs_t *agent_vm_refs_new(void);
void agent_vm_refs_free(agent_vm_refs_t *t);
/** A VM record was published: @p uuid is @p ref (a VM's uuid never changes; its ref does
 *  when it is destroyed and created again with the same uuid). */
void agent_vm_refs_put(agent_vm_refs_t *t, const char *uuid, const char *ref);
/** The VM @p ref was deleted (its tombstone published), or XAPI no longer knows it. */
void agent_vm_refs_forget(agent_vm_refs_t *t, const char *ref);
/** The ref of the VM @p uuid into @p ref; false when unknown (or too long for @p size). */
bool agent_vm_refs_get(agent_vm_refs_t *t, const char *uuid, char *ref, size_t size);
/** How many VMs are known (tests, metrics). */
size_t agent_vm_refs_count(agent_vm_refs_t *t);

#endif
