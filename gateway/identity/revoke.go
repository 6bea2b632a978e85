package identity

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// revocationStream is the Redis stream of revocation events. It is both the
// durable list a starting replica loads and the feed running replicas follow,
// so no event falls between "loaded" and "subscribed".
const revocationStream = "{g}:identity:revocations"

// Kinds of revocation event.
const (
	revokeAudit   = "audit"   // one token and the tokens rescoped from it
	revokeUser    = "user"    // every token of a user issued until At
	revokeProject = "project" // every token scoped to a project issued until At
	revokeAppCred = "appcred" // every token issued with an application credential
)

// revocationEvent is one entry of the stream.
type revocationEvent struct {
	Kind string
	ID   string
	At   time.Time // tokens issued at or before At are revoked
}

// revocations is the in-memory revocation set Authenticate checks.
type revocations struct {
	mu   sync.RWMutex
	sets map[string]map[string]time.Time // kind → id → latest At
}

func newRevocations() *revocations {
	return &revocations{sets: map[string]map[string]time.Time{
		revokeAudit: {}, revokeUser: {}, revokeProject: {}, revokeAppCred: {},
	}}
}

func (rv *revocations) apply(e revocationEvent) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	set, ok := rv.sets[e.Kind]
	if !ok {
		return // a newer replica's kind: ignore rather than fail
	}
	if cur, ok := set[e.ID]; !ok || e.At.After(cur) {
		set[e.ID] = e.At
	}
}

// revoked reports whether any event covers p.
func (rv *revocations) revoked(p *payload) bool {
	rv.mu.RLock()
	defer rv.mu.RUnlock()
	for _, a := range p.AuditIDs {
		if _, ok := rv.sets[revokeAudit][a]; ok {
			return true
		}
	}
	if at, ok := rv.sets[revokeUser][p.UserID]; ok && !p.IssuedAt.After(at) {
		return true
	}
	if p.Scope == scopeProject {
		if at, ok := rv.sets[revokeProject][p.ScopeID]; ok && !p.IssuedAt.After(at) {
			return true
		}
	}
	if p.AppCredID != "" {
		if at, ok := rv.sets[revokeAppCred][p.AppCredID]; ok && !p.IssuedAt.After(at) {
			return true
		}
	}
	return false
}

// forget drops events older than horizon: every token they could revoke has
// expired by now. Audit events are stamped with their creation time.
func (rv *revocations) forget(horizon time.Time) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	for _, set := range rv.sets {
		for id, at := range set {
			if at.Before(horizon) {
				delete(set, id)
			}
		}
	}
}

// revoke records an event in Redis (for every replica, now and after a
// restart) and applies it here at once.
func (s *Service) revoke(ctx context.Context, kind, id string) error {
	e := revocationEvent{Kind: kind, ID: id, At: s.now()}
	rdb := s.reg.Client()
	horizon := e.At.Add(-s.opts.TokenTTL - time.Minute)
	err := rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: revocationStream,
		MinID:  strconv.FormatInt(horizon.UnixMilli(), 10),
		Approx: true,
		Values: []any{"k", e.Kind, "id", e.ID, "at", strconv.FormatInt(e.At.UnixMicro(), 10)},
	}).Err()
	if err != nil {
		return err
	}
	s.revs.apply(e)
	return nil
}

// loadRevocations reads every stored event and returns the last stream id.
func (s *Service) loadRevocations(ctx context.Context) (string, error) {
	msgs, err := s.reg.Client().XRange(ctx, revocationStream, "-", "+").Result()
	if err != nil {
		return "", err
	}
	last := "0-0"
	for _, m := range msgs {
		s.applyMessage(m)
		last = m.ID
	}
	return last, nil
}

func (s *Service) applyMessage(m redis.XMessage) {
	kind, _ := m.Values["k"].(string)
	id, _ := m.Values["id"].(string)
	atStr, _ := m.Values["at"].(string)
	at, err := strconv.ParseInt(atStr, 10, 64)
	if kind == "" || id == "" || err != nil {
		s.log.Warn("identity: skipping malformed revocation event", "stream_id", m.ID)
		return
	}
	s.revs.apply(revocationEvent{Kind: kind, ID: id, At: time.UnixMicro(at).UTC()})
}

// followRevocations applies new events as they arrive until ctx ends.
func (s *Service) followRevocations(ctx context.Context, last string) {
	for ctx.Err() == nil {
		res, err := s.reg.Client().XRead(ctx, &redis.XReadArgs{
			Streams: []string{revocationStream, last}, Block: time.Second, Count: 256,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("identity: revocation feed interrupted; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for _, st := range res {
			for _, m := range st.Messages {
				s.applyMessage(m)
				last = m.ID
			}
		}
	}
}
