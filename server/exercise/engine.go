package exercise

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otrange/otrange/server/store"
)

// Options configure an Engine.
type Options struct {
	Store  *store.Store // required
	Now    func() time.Time
	Logger *slog.Logger
}

// Engine runs every exercise of one server.
type Engine struct {
	st  *store.Store
	now func() time.Time
	log *slog.Logger

	mu        sync.Mutex // serialises appends, so subscribers see events in id order
	exercises map[string]*Exercise
	tokens    map[string]Principal // token hash → principal
	subs      map[string]map[*Subscription]struct{}
}

// Open builds the engine and rebuilds every exercise from the log.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("exercise: a store is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{st: opts.Store, now: opts.Now, log: opts.Logger,
		exercises: map[string]*Exercise{}, tokens: map[string]Principal{}, subs: map[string]map[*Subscription]struct{}{}}
	if err := e.replay(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// replay applies the engine's own events, in log order.
func (e *Engine) replay(ctx context.Context) error {
	var after int64
	for {
		evs, err := e.st.Events(ctx, store.Query{AfterID: after, Limit: 5000})
		if err != nil {
			return fmt.Errorf("exercise: replay: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		for _, ev := range evs {
			if err := e.apply(ev); err != nil {
				return fmt.Errorf("exercise: replay event %d: %w", ev.ID, err)
			}
		}
		after = evs[len(evs)-1].ID
	}
}

type createdPayload struct {
	Title       string            `json:"title"`
	Scenario    string            `json:"scenario,omitempty"`
	Roles       []string          `json:"roles"`
	Speed       float64           `json:"speed"`
	Facilitator string            `json:"facilitator_token_sha256"`
	Invites     map[string]string `json:"invite_token_sha256"` // role → hash
}

type statePayload struct {
	From    State     `json:"from"`
	To      State     `json:"to"`
	StartAt time.Time `json:"start_at,omitzero"`
	By      string    `json:"by,omitempty"`
}

type joinedPayload struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	Token string `json:"token_sha256"`
}

// apply updates the engine's state with one of its events.
func (e *Engine) apply(ev store.Event) error {
	switch ev.Kind {
	case KindCreated:
		var p createdPayload
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return err
		}
		x := &Exercise{ID: ev.Exercise, Title: p.Title, Scenario: p.Scenario, Roles: p.Roles, Speed: p.Speed,
			State: Draft, Created: ev.Time, facHash: p.Facilitator, roleHash: p.Invites, personBy: map[string]int{}}
		e.exercises[x.ID] = x
		e.tokens[p.Facilitator] = Principal{Exercise: x.ID, Role: Facilitator}
	case KindState:
		x := e.exercises[ev.Exercise]
		if x == nil {
			return fmt.Errorf("state change of unknown exercise %q", ev.Exercise)
		}
		var p statePayload
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return err
		}
		x.elapsed, x.State, x.StartAt = ev.Clock, p.To, p.StartAt
		if p.To == Running {
			x.runSince = ev.Time
		}
	case KindJoined:
		x := e.exercises[ev.Exercise]
		if x == nil {
			return fmt.Errorf("join to unknown exercise %q", ev.Exercise)
		}
		var p joinedPayload
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return err
		}
		x.personBy[p.Token] = len(x.People)
		x.People = append(x.People, Person{Name: p.Name, Role: p.Role, Joined: ev.Time})
		e.tokens[p.Token] = Principal{Exercise: x.ID, Role: p.Role, Name: p.Name}
	}
	return nil
}

// CreateRequest describes a new exercise.
type CreateRequest struct {
	Title    string   `json:"title"`
	Scenario string   `json:"scenario,omitempty"`
	Roles    []string `json:"roles,omitempty"` // empty: DefaultRoles
	Speed    float64  `json:"speed,omitempty"` // 0: real time
}

// Credentials are the secrets of a new exercise, shown once: the
// facilitator's token and one invitation token per role.
type Credentials struct {
	Facilitator string            `json:"facilitator_token"`
	Invites     map[string]string `json:"invite_tokens"`
}

// Create makes a draft exercise.
func (e *Engine) Create(ctx context.Context, req CreateRequest) (Exercise, Credentials, error) {
	req.Title = strings.TrimSpace(req.Title)
	if req.Title == "" || len(req.Title) > MaxTitle {
		return Exercise{}, Credentials{}, invalid("title must be 1 to %d characters", MaxTitle)
	}
	if req.Speed == 0 {
		req.Speed = 1
	}
	if req.Speed < MinSpeed || req.Speed > MaxSpeed {
		return Exercise{}, Credentials{}, invalid("speed %g out of %g..%g", req.Speed, MinSpeed, MaxSpeed)
	}
	if len(req.Roles) == 0 {
		req.Roles = DefaultRoles
	}
	if len(req.Roles) > MaxRoles {
		return Exercise{}, Credentials{}, invalid("at most %d roles", MaxRoles)
	}
	seen := map[string]bool{}
	for _, r := range req.Roles {
		if !roleName.MatchString(r) || r == Facilitator || seen[r] {
			return Exercise{}, Credentials{}, invalid("role %q: want a unique lower-case name like ot_engineer, not %q", r, Facilitator)
		}
		seen[r] = true
	}
	creds := Credentials{Facilitator: newToken(), Invites: map[string]string{}}
	p := createdPayload{Title: req.Title, Scenario: req.Scenario, Roles: slices.Clone(req.Roles), Speed: req.Speed,
		Facilitator: hash(creds.Facilitator), Invites: map[string]string{}}
	for _, r := range req.Roles {
		creds.Invites[r] = newToken()
		p.Invites[r] = hash(creds.Invites[r])
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.exercises) >= MaxExercises {
		return Exercise{}, Credentials{}, fmt.Errorf("%w: %d exercises", ErrTooMany, MaxExercises)
	}
	id := "ex-" + newToken()[:10]
	if _, err := e.appendLocked(ctx, store.Event{Exercise: id, Kind: KindCreated, Source: "facilitator", Payload: mustJSON(p)}); err != nil {
		return Exercise{}, Credentials{}, err
	}
	return e.viewLocked(e.exercises[id]), creds, nil
}

// Move changes an exercise's state. A move to Scheduled needs startAt.
func (e *Engine) Move(ctx context.Context, id string, to State, startAt time.Time, by Principal) (Exercise, error) {
	if !by.IsFacilitator() || by.Exercise != id {
		return Exercise{}, ErrForbidden
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.exercises[id]
	if !ok {
		return Exercise{}, ErrNotFound
	}
	if !CanMove(x.State, to) {
		return Exercise{}, fmt.Errorf("%w: cannot go from %s to %s", ErrConflict, x.State, to)
	}
	p := statePayload{From: x.State, To: to, By: by.Role}
	if to == Scheduled {
		if startAt.IsZero() || !startAt.After(e.now()) {
			return Exercise{}, invalid("a schedule needs a start time in the future")
		}
		p.StartAt = startAt
	}
	if _, err := e.appendLocked(ctx, store.Event{Exercise: id, Kind: KindState, Source: "facilitator", Payload: mustJSON(p)}); err != nil {
		return Exercise{}, err
	}
	return e.viewLocked(x), nil
}

// Join admits a participant with a role's invitation token and returns the
// participant's own token.
func (e *Engine) Join(ctx context.Context, id, invite, name string) (Principal, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 80 {
		return Principal{}, "", invalid("name must be 1 to 80 characters")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.exercises[id]
	if !ok {
		return Principal{}, "", ErrNotFound
	}
	if x.State == Finished || x.State == Cancelled {
		return Principal{}, "", fmt.Errorf("%w: the exercise is %s", ErrConflict, x.State)
	}
	h := hash(invite)
	var role string
	for r, rh := range x.roleHash {
		if rh == h {
			role = r
		}
	}
	if role == "" {
		return Principal{}, "", ErrBadToken
	}
	if len(x.People) >= MaxParticipants {
		return Principal{}, "", fmt.Errorf("%w: %d participants", ErrTooMany, MaxParticipants)
	}
	token := newToken()
	p := joinedPayload{Name: name, Role: role, Token: hash(token)}
	if _, err := e.appendLocked(ctx, store.Event{Exercise: id, Kind: KindJoined, Source: "participant:" + role, Payload: mustJSON(p)}); err != nil {
		return Principal{}, "", err
	}
	return e.tokens[p.Token], token, nil
}

// Authenticate returns who token stands for in exercise id.
func (e *Engine) Authenticate(id, token string) (Principal, error) {
	if token == "" {
		return Principal{}, ErrBadToken
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.tokens[hash(token)]
	if !ok || p.Exercise != id {
		return Principal{}, ErrBadToken
	}
	return p, nil
}

// Get returns an exercise.
func (e *Engine) Get(id string) (Exercise, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.exercises[id]
	if !ok {
		return Exercise{}, ErrNotFound
	}
	return e.viewLocked(x), nil
}

// List returns every exercise, newest first.
func (e *Engine) List() []Exercise {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Exercise, 0, len(e.exercises))
	for _, x := range e.exercises {
		out = append(out, e.viewLocked(x))
	}
	slices.SortFunc(out, func(a, b Exercise) int { return b.Created.Compare(a.Created) })
	return out
}

// Clock returns an exercise's clock now.
func (e *Engine) Clock(id string) (time.Duration, error) {
	x, err := e.Get(id)
	return x.Clock, err
}

func (e *Engine) viewLocked(x *Exercise) Exercise {
	v := *x
	v.Clock = x.clock(e.now())
	v.Roles = slices.Clone(x.Roles)
	v.People = slices.Clone(x.People)
	if v.People == nil {
		v.People = []Person{}
	}
	v.roleHash, v.personBy = nil, nil
	return v
}

// Append adds an event to an exercise's log, stamped with the wall time and
// the exercise clock, and hands it to the exercise's subscribers. It returns
// once the event is durable.
func (e *Engine) Append(ctx context.Context, ev store.Event) (store.Event, error) {
	switch ev.Kind {
	case KindCreated, KindState, KindJoined:
		return ev, invalid("%s events are written by the engine only", ev.Kind)
	case "":
		return ev, invalid("an event needs a kind")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.exercises[ev.Exercise]; !ok {
		return ev, ErrNotFound
	}
	return e.appendLocked(ctx, ev)
}

func (e *Engine) appendLocked(ctx context.Context, ev store.Event) (store.Event, error) {
	now := e.now()
	ev.Time = now
	if x, ok := e.exercises[ev.Exercise]; ok {
		ev.Clock = x.clock(now)
	}
	ev, err := e.st.Append(ctx, ev)
	if err != nil {
		return ev, err
	}
	if err := e.apply(ev); err != nil {
		return ev, err
	}
	for s := range e.subs[ev.Exercise] {
		s.deliver(ev)
	}
	return ev, nil
}

// Events reads an exercise's log as p may see it, after an event id.
func (e *Engine) Events(ctx context.Context, p Principal, after int64, limit int) ([]store.Event, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var out []store.Event
	for len(out) < limit {
		evs, err := e.st.Events(ctx, store.Query{Exercise: p.Exercise, AfterID: after, Limit: limit})
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if p.Sees(ev.Audience) && len(out) < limit {
				out = append(out, Redact(ev))
			}
		}
		if len(evs) < limit {
			break
		}
		after = evs[len(evs)-1].ID
	}
	return out, nil
}

// Run starts scheduled exercises when their time comes, until ctx is done.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		e.startDue(ctx)
	}
}

func (e *Engine) startDue(ctx context.Context) {
	e.mu.Lock()
	var due []string
	for id, x := range e.exercises {
		if x.State == Scheduled && !e.now().Before(x.StartAt) {
			due = append(due, id)
		}
	}
	e.mu.Unlock()
	slices.Sort(due)
	for _, id := range due {
		if _, err := e.Move(ctx, id, Running, time.Time{}, Principal{Exercise: id, Role: Facilitator}); err != nil {
			e.log.Error("start scheduled exercise", "exercise", id, "err", err)
		}
	}
}

// Running returns the ids of running exercises.
func (e *Engine) Running() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []string
	for id, x := range e.exercises {
		if x.State == Running {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Roles returns an exercise's roles.
func (e *Engine) Roles(id string) []string {
	x, err := e.Get(id)
	if err != nil {
		return nil
	}
	return x.Roles
}

func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the engine's own payload types reach here
	}
	return b
}

// Redact removes the token hashes from the engine's own events: no view,
// export or report needs them.
func Redact(ev store.Event) store.Event {
	switch ev.Kind {
	case KindCreated:
		var p createdPayload
		if json.Unmarshal(ev.Payload, &p) == nil {
			ev.Payload = mustJSON(map[string]any{"title": p.Title, "scenario": p.Scenario, "roles": p.Roles, "speed": p.Speed})
		}
	case KindJoined:
		var p joinedPayload
		if json.Unmarshal(ev.Payload, &p) == nil {
			ev.Payload = mustJSON(map[string]any{"name": p.Name, "role": p.Role})
		}
	}
	return ev
}
