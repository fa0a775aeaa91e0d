/*
 * progress.h - the progress bar xo-fleet draws on stderr (a terminal only) while a long
 * method runs. The gateway answers a method when its command is done and says nothing
 * meanwhile, so the bar follows the XAPI tasks the agent's Async.* call creates, as they
 * reach every signed-in connection through `all`: a task that enters `pending` while the
 * call waits is followed until it leaves `pending`. Another client's task started at the
 * same moment is followed too (the bar is then their mean): it is an indication, never a
 * result. Pure state and formatting; the command writes the line.
 */
#ifndef CLI_PROGRESS_H
#define CLI_PROGRESS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define CLI_PROGRESS_TASKS 16 /* tasks followed at once; more are ignored */

typedef struct {
    char id[64];
    double progress; /* 0..1 */
    bool done;
} cli_progress_task_t;

typedef struct {
    cli_progress_task_t tasks[CLI_PROGRESS_TASKS];
    int ntasks;
    char label[64]; /* name_label of the first task followed ("Async.VM.start") */
} cli_progress_t;

/** @brief Follow the tasks of one `all` notification's params (borrowed). */
void cli_progress_feed(cli_progress_t *p, json_object *params);

/**
 * @brief The mean progress (0..1) of the tasks followed.
 * @returns false when no task is followed yet (nothing to draw).
 */
bool cli_progress_fraction(const cli_progress_t *p, double *fraction);

/**
 * @brief The bar's line: "\r<label> [#####-----]  42% 3s\033[K" fitting @p columns
 *        (at least 20), for a carriage-return redraw; "" for fewer columns.
 */
void cli_progress_render(char *out, size_t size, int columns, const char *label, double fraction,
                         double elapsed_s);

/** @brief What erases the bar: "\r\033[K". */
const char *cli_progress_clear(void);

#endif
