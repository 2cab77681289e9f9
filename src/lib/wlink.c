/*
 * wlink.c - links from event loops to a batch writer on another loop (see wlink.h). An item
 * crossing loops travels as a copy (a handoff): into the hub's inbox under the hub's lock, to
 * the writer on the writer's loop, and with its outcome into the submitting link's outbox,
 * from which that link's loop calls the submitter's own callback. Each direction wakes the
 * other loop once per empty-to-non-empty transition, so a loop iteration's items cross
 * together and the writer's per-iteration batching (writer.c) still sees them as one batch.
 */
#include "hocvu/wlink.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/log.h"
#include "hocvu/util.h"

typedef struct handoff handoff_t;

/* A submitted item while it is away from its loop. Owned by the link until handed over, then
 * by the writer's loop until its outcome is in the link's outbox, then by the link again; an
 * orphan's copy (its link freed meanwhile) is freed by the writer's loop when it comes back. */
struct handoff {
    hv_write_item_t item;  /* the copy the writer holds: cb = handoff_done, arg = this */
    hv_write_item_t *orig; /* the submitter's item; touched on the link's loop only */
    hv_wlink_t *link;
    bool bulk;
    bool done;            /* under the hub lock: the outcome is in the link's outbox */
    hv_outcome_t outcome; /* valid once done */
    handoff_t *next;      /* under the hub lock: in the hub's inbox or the link's outbox */
    handoff_t *prev_live, *next_live; /* the link's loop only: not yet called back */
};

struct hv_wlink_hub {
    pthread_mutex_t lock;
    hv_writer_t *writer;     /* borrowed; under lock: untouched once closed */
    struct event_base *base; /* the writer's loop (borrowed) */
    struct event *inbox_ev;  /* on base: gives the inbox to the writer; freed by close */
    struct event *closed_ev; /* on base: another loop's link was freed; freed by close */
    void (*on_link_closed)(void *arg);
    void *arg;
    /* under lock: */
    handoff_t *inbox, **inbox_tail;
    int remote_links;
    bool closed;
};

struct hv_wlink {
    hv_wlink_hub_t *hub;   /* borrowed */
    bool direct;           /* on the writer's own loop: submits straight to it */
    struct event *done_ev; /* remote: the outbox has outcomes; on this link's loop */
    handoff_t *live;       /* remote, this loop only: copies not yet called back */
    int pending;           /* remote, this loop only: how many */
    /* under the hub lock: */
    handoff_t *outbox, **outbox_tail;
    int outstanding; /* copies in the hub's inbox or the writer */
    bool orphan;     /* freed by its loop: the last copy to come back frees the memory */
};

static void no_event(void)
{
    hv_log(HV_LOG_ERROR, "out of memory", NULL);
    abort();
}

static void lock(hv_wlink_hub_t *hub)
{
    pthread_mutex_lock(&hub->lock);
}

static void unlock(hv_wlink_hub_t *hub)
{
    pthread_mutex_unlock(&hub->lock);
}

/* The writer's callback of a copy, on the writer's loop: the outcome goes to the link's
 * outbox (waking its loop when the outbox was empty), or, when the link is gone, the copy is
 * dropped. The wake-up is sent under the lock, so hv_wlink_free cannot free the event while
 * it is being activated. */
static void handoff_done(hv_write_item_t *item, hv_outcome_t outcome)
{
    handoff_t *h = item->arg;
    hv_wlink_t *l = h->link;
    hv_wlink_hub_t *hub = l->hub;

    lock(hub);
    l->outstanding--;
    if (l->orphan) {
        bool last = l->outstanding == 0;
        unlock(hub);
        free(h);
        if (last)
            free(l);
        return;
    }
    h->done = true;
    h->outcome = outcome;
    h->next = NULL;
    bool was_empty = !l->outbox;
    *l->outbox_tail = h;
    l->outbox_tail = &h->next;
    if (was_empty)
        event_active(l->done_ev, EV_TIMEOUT, 0);
    unlock(hub);
}

/* On the writer's loop: hands everything in the inbox to the writer. */
static void inbox_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_wlink_hub_t *hub = arg;
    (void)fd;
    (void)what;

    lock(hub);
    handoff_t *h = hub->inbox;
    hub->inbox = NULL;
    hub->inbox_tail = &hub->inbox;
    hv_writer_t *writer = hub->closed ? NULL : hub->writer;
    unlock(hub);
    while (h) {
        handoff_t *next = h->next;
        if (writer)
            hv_writer_submit(writer, &h->item, h->bulk);
        else
            handoff_done(&h->item, HV_OUT_UNAVAILABLE);
        h = next;
    }
}

static void closed_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_wlink_hub_t *hub = arg;
    (void)fd;
    (void)what;
    if (hub->on_link_closed)
        hub->on_link_closed(hub->arg);
}

hv_wlink_hub_t *hv_wlink_hub_new(void)
{
    hv_wlink_hub_t *hub = hv_xcalloc(1, sizeof(*hub));

    pthread_mutex_init(&hub->lock, NULL);
    hub->inbox_tail = &hub->inbox;
    return hub;
}

void hv_wlink_hub_bind(hv_wlink_hub_t *hub, hv_writer_t *writer, struct event_base *base,
                       void (*on_link_closed)(void *arg), void *arg)
{
    hub->writer = writer;
    hub->base = base;
    hub->on_link_closed = on_link_closed;
    hub->arg = arg;
    hub->inbox_ev = event_new(base, -1, 0, inbox_cb, hub);
    hub->closed_ev = event_new(base, -1, 0, closed_cb, hub);
    if (!hub->inbox_ev || !hub->closed_ev)
        no_event();
}

int hv_wlink_hub_remote_links(hv_wlink_hub_t *hub)
{
    lock(hub);
    int n = hub->remote_links;
    unlock(hub);
    return n;
}

void hv_wlink_hub_close(hv_wlink_hub_t *hub)
{
    if (!hub)
        return;
    lock(hub);
    if (hub->closed || !hub->base) {
        hub->closed = true;
        unlock(hub);
        return;
    }
    hub->closed = true;
    handoff_t *h = hub->inbox;
    hub->inbox = NULL;
    hub->inbox_tail = &hub->inbox;
    unlock(hub);
    /* No other thread touches the events once `closed` is set (they check it under the lock). */
    event_free(hub->inbox_ev);
    event_free(hub->closed_ev);
    hub->inbox_ev = hub->closed_ev = NULL;
    while (h) {
        handoff_t *next = h->next;
        handoff_done(&h->item, HV_OUT_UNAVAILABLE);
        h = next;
    }
}

void hv_wlink_hub_free(hv_wlink_hub_t *hub)
{
    if (!hub)
        return;
    hv_wlink_hub_close(hub);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

/* On the link's loop: calls back the items whose outcomes arrived. */
static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_wlink_t *l = arg;
    (void)fd;
    (void)what;

    lock(l->hub);
    handoff_t *h = l->outbox;
    l->outbox = NULL;
    l->outbox_tail = &l->outbox;
    unlock(l->hub);
    while (h) {
        handoff_t *next = h->next;
        hv_write_item_t *orig = h->orig;
        hv_outcome_t outcome = h->outcome;
        if (h->prev_live)
            h->prev_live->next_live = h->next_live;
        else
            l->live = h->next_live;
        if (h->next_live)
            h->next_live->prev_live = h->prev_live;
        l->pending--;
        free(h);
        orig->next = NULL;
        orig->cb(orig, outcome);
        h = next;
    }
}

hv_wlink_t *hv_wlink_new(hv_wlink_hub_t *hub, struct event_base *base)
{
    hv_wlink_t *l = hv_xcalloc(1, sizeof(*l));

    l->hub = hub;
    l->direct = base == hub->base;
    l->outbox_tail = &l->outbox;
    if (!l->direct) {
        l->done_ev = event_new(base, -1, 0, done_cb, l);
        if (!l->done_ev)
            no_event();
        lock(hub);
        hub->remote_links++;
        unlock(hub);
    }
    return l;
}

void hv_wlink_free(hv_wlink_t *l)
{
    if (!l)
        return;
    if (l->direct) {
        free(l);
        return;
    }
    hv_wlink_hub_t *hub = l->hub;
    hv_write_item_t **away = hv_xmalloc(sizeof(*away) * (size_t)(l->pending + 1));
    int n_away = 0;

    /* Under the lock: take the outcomes that arrived, note the items still away (their copies
     * are the writer's loop's to free from now on), and orphan the link. */
    lock(hub);
    handoff_t *back = l->outbox;
    l->outbox = NULL;
    l->outbox_tail = &l->outbox;
    for (handoff_t *h = l->live; h; h = h->next_live)
        if (!h->done)
            away[n_away++] = h->orig;
    l->orphan = true;
    bool free_now = l->outstanding == 0;
    hub->remote_links--;
    if (!hub->closed)
        event_active(hub->closed_ev, EV_TIMEOUT, 0);
    unlock(hub);

    event_free(l->done_ev);
    while (back) {
        handoff_t *next = back->next;
        hv_write_item_t *orig = back->orig;
        hv_outcome_t outcome = back->outcome;
        free(back);
        orig->next = NULL;
        orig->cb(orig, outcome);
        back = next;
    }
    for (int i = 0; i < n_away; i++) {
        away[i]->next = NULL;
        away[i]->cb(away[i], HV_OUT_UNAVAILABLE);
    }
    free(away);
    if (free_now)
        free(l);
}

void hv_wlink_submit(hv_wlink_t *l, hv_write_item_t *it, bool bulk)
{
    hv_wlink_hub_t *hub = l->hub;

    if (l->direct) {
        /* The writer's own loop: closing happens on this thread, so no lock is needed. */
        if (hub->closed) {
            it->next = NULL;
            it->cb(it, HV_OUT_UNAVAILABLE);
            return;
        }
        hv_writer_submit(hub->writer, it, bulk);
        return;
    }
    handoff_t *h = hv_xmalloc(sizeof(*h));
    h->item = *it;
    h->item.cb = handoff_done;
    h->item.arg = h;
    h->item.next = NULL;
    h->orig = it;
    h->link = l;
    h->bulk = bulk;
    h->done = false;
    h->next = NULL;

    lock(hub);
    if (hub->closed) {
        unlock(hub);
        free(h);
        it->next = NULL;
        it->cb(it, HV_OUT_UNAVAILABLE);
        return;
    }
    bool was_empty = !hub->inbox;
    *hub->inbox_tail = h;
    hub->inbox_tail = &h->next;
    l->outstanding++;
    if (was_empty)
        event_active(hub->inbox_ev, EV_TIMEOUT, 0);
    unlock(hub);

    h->prev_live = NULL;
    h->next_live = l->live;
    if (l->live)
        l->live->prev_live = h;
    l->live = h;
    l->pending++;
}

bool hv_wlink_idle(const hv_wlink_t *l)
{
    if (l->direct)
        return l->hub->closed || hv_writer_idle(l->hub->writer);
    return l->pending == 0;
}

bool hv_wlink_available(hv_wlink_t *l)
{
    lock(l->hub);
    bool ok = !l->hub->closed && l->hub->writer && hv_writer_available_relaxed(l->hub->writer);
    unlock(l->hub);
    return ok;
}

const char *hv_wlink_epoch(hv_wlink_t *l, char out[HV_WRITER_EPOCH_LEN + 1])
{
    lock(l->hub);
    const char *e = !l->hub->closed && l->hub->writer ? hv_writer_epoch(l->hub->writer, out) : NULL;
    unlock(l->hub);
    return e;
}

int64_t hv_wlink_latency_us(hv_wlink_t *l)
{
    lock(l->hub);
    int64_t us = !l->hub->closed && l->hub->writer ? hv_writer_latency_us(l->hub->writer) : 0;
    unlock(l->hub);
    return us;
}
