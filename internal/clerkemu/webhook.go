package clerkemu

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The Clerk webhook event types the emulator emits.
const (
	EventUserCreated        = "user.created"
	EventUserUpdated        = "user.updated"
	EventUserDeleted        = "user.deleted"
	EventMembershipCreated  = "organizationMembership.created"
	EventMembershipUpdated  = "organizationMembership.updated"
	EventMembershipDeleted  = "organizationMembership.deleted"
	EventInvitationCreated  = "organizationInvitation.created"
	EventInvitationAccepted = "organizationInvitation.accepted"
	EventInvitationRevoked  = "organizationInvitation.revoked"
)

// DefaultWebhookTimeout bounds one delivery when WebhookConfig.Timeout is 0.
const DefaultWebhookTimeout = 5 * time.Second

// maxDeliveries is how many recent deliveries Deliveries (and Redeliver)
// remember.
const maxDeliveries = 1000

// WebhookConfig is where and how the emulator delivers Clerk webhooks.
type WebhookConfig struct {
	// URL receives the deliveries (http or https).
	URL string
	// Secret is the Svix signing secret, "whsec_" + base64 of the key, as
	// GenerateWebhookSecret makes.
	Secret string
	// Client sends the deliveries; nil -> a client that does not follow
	// redirects.
	Client *http.Client
	// Timeout bounds each delivery; 0 -> DefaultWebhookTimeout.
	Timeout time.Duration
	// OnDelivery, when set, is called after every delivery attempt (for
	// logging), outside the emulator's locks, concurrently when writes are.
	OnDelivery func(Delivery)
}

// Delivery is one attempt to deliver a webhook message.
type Delivery struct {
	// ID is the message's svix-id ("msg_..."); a redelivery repeats it.
	ID string
	// Type is the event type, such as EventUserUpdated.
	Type string
	// Body is the signed JSON payload.
	Body []byte
	// Status is the receiver's HTTP status; 0 when it did not answer.
	Status int
	// Err is "" for a 2xx answer; otherwise what went wrong.
	Err string
}

// webhookTarget is a validated WebhookConfig.
type webhookTarget struct {
	url        string
	key        []byte
	client     *http.Client
	timeout    time.Duration
	onDelivery func(Delivery)
}

// GenerateWebhookSecret returns a fresh Svix signing secret: "whsec_" and
// the standard base64 of 24 random bytes.
func GenerateWebhookSecret() (string, error) {
	key := make([]byte, 24)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("clerkemu: generating webhook secret: %w", err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key), nil
}

// SignWebhook returns the svix-signature header value for one message: "v1,"
// and the base64 HMAC-SHA256, keyed by the decoded secret, of
// msgID + "." + timestamp + "." + body (timestamp in Unix seconds). Errors
// wrap ErrInvalid when the secret is not "whsec_" + base64.
func SignWebhook(secret, msgID string, timestamp int64, body []byte) (string, error) {
	key, err := webhookKey(secret)
	if err != nil {
		return "", err
	}
	return signWebhook(key, msgID, timestamp, body), nil
}

func signWebhook(key []byte, msgID string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func webhookKey(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, fmt.Errorf("%w: webhook secret must start with whsec_", ErrInvalid)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("%w: webhook secret must be whsec_ and non-empty base64", ErrInvalid)
	}
	return key, nil
}

func newWebhookTarget(c *WebhookConfig) (*webhookTarget, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: webhook URL %q is not an absolute http(s) URL", ErrInvalid, c.URL)
	}
	key, err := webhookKey(c.Secret)
	if err != nil {
		return nil, err
	}
	t := &webhookTarget{url: c.URL, key: key, client: c.Client, timeout: c.Timeout, onDelivery: c.OnDelivery}
	if t.client == nil {
		t.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if t.timeout <= 0 {
		t.timeout = DefaultWebhookTimeout
	}
	return t, nil
}

// SetWebhook makes the emulator deliver webhooks to url, signed with secret
// ("whsec_..."), with the default client and timeout; url "" stops
// deliveries. It replaces any earlier configuration, Options.Webhook
// included. Errors wrap ErrInvalid (url not absolute http(s), malformed
// secret) and leave the configuration unchanged.
func (e *Emulator) SetWebhook(url, secret string) error {
	return e.SetWebhookConfig(&WebhookConfig{URL: url, Secret: secret})
}

// SetWebhookConfig is SetWebhook with every option; nil or an empty URL
// stops deliveries.
func (e *Emulator) SetWebhookConfig(c *WebhookConfig) error {
	var t *webhookTarget
	if c != nil && c.URL != "" {
		var err error
		if t, err = newWebhookTarget(c); err != nil {
			return err
		}
	}
	e.hookMu.Lock()
	e.hook = t
	e.hookMu.Unlock()
	return nil
}

// Deliveries returns a copy of the delivery attempts, oldest first (at
// least the most recent 1000 are kept). A write's deliveries are recorded
// before the write returns.
func (e *Emulator) Deliveries() []Delivery {
	e.hookMu.Lock()
	defer e.hookMu.Unlock()
	ds := make([]Delivery, len(e.deliveries))
	for i, d := range e.deliveries {
		d.Body = bytes.Clone(d.Body)
		ds[i] = d
	}
	return ds
}

// Redeliver sends the message with svix-id id again, as a Svix retry does:
// the same svix-id and body, a fresh svix-timestamp and signature, to the
// webhook configured now. It returns the new, recorded, attempt; a failed
// attempt is not an error. Errors wrap ErrNotFound when no remembered
// delivery has that id, or when no webhook is configured.
func (e *Emulator) Redeliver(id string) (Delivery, error) {
	e.hookMu.Lock()
	t := e.hook
	var msg *Delivery
	for i := len(e.deliveries) - 1; i >= 0; i-- {
		if e.deliveries[i].ID == id {
			msg = &e.deliveries[i]
			break
		}
	}
	var typ string
	var body []byte
	if msg != nil {
		typ, body = msg.Type, msg.Body
	}
	e.hookMu.Unlock()
	switch {
	case msg == nil:
		return Delivery{}, fmt.Errorf("%w: webhook message %s", ErrNotFound, id)
	case t == nil:
		return Delivery{}, fmt.Errorf("%w: no webhook configured", ErrNotFound)
	}
	return e.send(t, id, typ, body), nil
}

// webhookEnvelope is a Clerk webhook event.
type webhookEnvelope struct {
	Data            rawJSON         `json:"data"`
	Object          string          `json:"object"`
	Type            string          `json:"type"`
	Timestamp       int64           `json:"timestamp"`
	InstanceID      string          `json:"instance_id"`
	EventAttributes eventAttributes `json:"event_attributes"`
}

type eventAttributes struct {
	HTTPRequest httpRequestAttrs `json:"http_request"`
}

type httpRequestAttrs struct {
	ClientIP  string `json:"client_ip"`
	UserAgent string `json:"user_agent"`
}

// rawJSON is pre-encoded JSON embedded as is.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// deletedObject is Clerk's answer to a deletion and the data of user.deleted.
type deletedObject struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

// outbox collects the events of one write while it holds the write lock;
// Emulator.deliver sends them once the lock is released, so that the
// receiver may call the emulator back.
type outbox struct {
	attrs  eventAttributes
	events []pendingEvent
}

type pendingEvent struct {
	typ  string
	data []byte // an encoded object; encoded slices are never modified
	at   int64  // Unix milliseconds
}

func (ob *outbox) add(typ string, data []byte) {
	ob.events = append(ob.events, pendingEvent{typ: typ, data: data, at: time.Now().UnixMilli()})
}

// requestOutbox returns an outbox for a write made over HTTP: its events
// name the caller's address and user agent, as Clerk's do.
func requestOutbox(r *http.Request) *outbox {
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	return &outbox{attrs: eventAttributes{httpRequestAttrs{ClientIP: ip, UserAgent: r.UserAgent()}}}
}

// deliver sends ob's events, in order, to the configured webhook, if any.
// Callers must not hold e.mu.
func (e *Emulator) deliver(ob *outbox) {
	if len(ob.events) == 0 {
		return
	}
	e.hookMu.Lock()
	t := e.hook
	e.hookMu.Unlock()
	if t == nil {
		return
	}
	for _, ev := range ob.events {
		body := mustJSON(&webhookEnvelope{
			Data: ev.data, Object: "event", Type: ev.typ, Timestamp: ev.at,
			InstanceID: e.keyID, EventAttributes: ob.attrs,
		})
		e.send(t, "msg_"+randomToken(27), ev.typ, body)
	}
}

// send makes one delivery attempt and records it.
func (e *Emulator) send(t *webhookTarget, id, typ string, body []byte) Delivery {
	d := Delivery{ID: id, Type: typ, Body: body}
	ts := time.Now().Unix()
	ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Svix-Webhooks/1.0 (clerkemu)")
		req.Header.Set("svix-id", id)
		req.Header.Set("svix-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("svix-signature", signWebhook(t.key, id, ts, body))
		var res *http.Response
		if res, err = t.client.Do(req); err == nil {
			d.Status = res.StatusCode
			snippet, _ := io.ReadAll(io.LimitReader(res.Body, 200))
			_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
			res.Body.Close()
			if res.StatusCode < 200 || res.StatusCode > 299 {
				err = fmt.Errorf("receiver answered %s: %s", res.Status, bytes.TrimSpace(snippet))
			}
		}
	}
	if err != nil {
		d.Err = err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			d.Err = fmt.Sprintf("no answer within %v: %v", t.timeout, err)
		}
	}
	e.hookMu.Lock()
	e.deliveries = append(e.deliveries, d)
	if len(e.deliveries) > 2*maxDeliveries {
		e.deliveries = append([]Delivery(nil), e.deliveries[len(e.deliveries)-maxDeliveries:]...)
	}
	e.hookMu.Unlock()
	if t.onDelivery != nil {
		t.onDelivery(d)
	}
	return d
}

// nextStamp returns an updated_at for an object last stamped prev: now in
// Unix milliseconds, or prev+1 when the clock has not passed prev, so that
// every change of an object advances its updated_at.
func nextStamp(prev int64) int64 {
	return max(time.Now().UnixMilli(), prev+1)
}
