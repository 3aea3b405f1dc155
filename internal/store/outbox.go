package store

// terminalStatuses is the SQL list of the statuses no transition leaves (job.Status.Terminal),
// written once for every statement that asks whether a job has ended. It is a literal, not a
// parameter, so that the planner can match the partial index jobs_ended_update_time_idx, whose
// predicate is this same list; TestTerminalStatuses keeps it equal to job.Statuses' terminal ones.
const terminalStatuses = `('DONE', 'FAILED', 'CANCELLED')`

// enqueueDeliveries queues a client completion webhook, as a new message, for every job in the
// relation `ended` that has ended and has a callback_url. The statement that uses it defines
// `ended` (id, customer, callback_url, status) in a WITH clause: the jobs a transition just
// moved, or the one job a redelivery names.
const enqueueDeliveries = `
    INSERT INTO deliveries (id, job_id, customer, message_id, url, file_status)
    SELECT gen_random_uuid(), id, customer, 'msg_' || replace(gen_random_uuid()::text, '-', ''),
           callback_url, lower(status)
    FROM ended WHERE callback_url IS NOT NULL AND status IN ` + terminalStatuses
