/*  =========================================================================
    test_kill_instant - tasks that end at once lose nothing when the sink
    dies

    A worker sends the RESULT of a task that ends in the step that took it
    (echo here; offline extraction of a form alike) once, without keeping
    it for resending and without following the task's STATEs. If the sink
    dies before committing it, the ventilator's lease runs out and the task
    runs again. Here the sink is killed with SIGKILL while such tasks flow
    and restarted; every accepted task must still complete, once.
    =========================================================================
*/

#include "testutil.h"

#define TASKS 400
#define KILL_AT 150

int
main (void)
{
    const char *args [] = {"gateway:--enable-echo", "worker:--enable-echo",
                           "ventilator:--pickup-timeout=1000", NULL};
    th_harness_t *harness = th_harness_new ("kill_instant", 1, args);
    ds_launcher_t *launcher = th_harness_launcher (harness);
    char *task_ids [TASKS];
    for (int task_nbr = 0; task_nbr < TASKS; task_nbr++) {
        task_ids [task_nbr] = th_submit (harness, "echo", "{}");
        if (task_nbr == KILL_AT) {
            kill (ds_launcher_pid (launcher, "sink"), SIGKILL);
            TH_CHECK (ds_launcher_wait (launcher, "sink", 10000) >= 0,
                      "the sink is dead");
        }
        if (task_nbr == KILL_AT + 50)
            TH_CHECK (ds_launcher_restart (launcher, "sink") == 0,
                      "the sink restarted");
    }
    int redelivered = 0;
    for (int task_nbr = 0; task_nbr < TASKS; task_nbr++) {
        json_t *status =
            th_wait_completed (harness, task_ids [task_nbr], 60000);
        if (json_integer_value (json_object_get (status, "attempts")) > 1)
            redelivered++;
        json_decref (status);
        zstr_free (&task_ids [task_nbr]);
    }
    printf ("test_kill_instant: %d tasks completed, %d of them on a second "
            "attempt\n",
            TASKS, redelivered);
    th_harness_destroy (&harness);
    printf ("test_kill_instant: OK\n");
    return 0;
}
