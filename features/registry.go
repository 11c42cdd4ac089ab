package features

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/defaults"
)

// registry is a validated Config, indexed for lookups on the request path.
type registry struct {
	cfg      Config // with defaults
	entities map[string]*entity
	views    map[string]*view
	viewList []*view
	services map[string][]string
	models   map[string]*model
	keyTypes map[string]Scalar // join key name → type, across entities

	// keyNames and refNames map every join key name and every valid
	// view:feature ref to itself: parsers look a name up by its bytes and
	// keep the registry's string instead of allocating one.
	keyNames map[string]string
	refNames map[string]string
}

type joinKey struct {
	name string
	typ  Scalar // Int64 or String
}

type entity struct {
	name string
	keys []joinKey
}

type sourceKind uint8

const (
	sourceRedis sourceKind = iota
	sourceHTTP
	sourceMemory
)

type view struct {
	idx      int
	name     string
	keys     []joinKey // join keys of all its entities, in declaration order
	features []*feature
	byName   map[string]int
	maxAge   time.Duration
	// feastDefaults: the Feast endpoint answers declared defaults too.
	feastDefaults bool

	source       sourceKind
	url          string
	upstreamView string
	timeout      time.Duration
	ttl          time.Duration
	budget       time.Duration  // 0: the caller's deadline
	breakerCfg   breaker.Config // http views
	callURL      string         // url, asking for statuses and event times
	pushSource   string         // Feast push source name ("": none, http views)
	tsField      string         // the event time column of Feast writes
	authHeader   string         // static Authorization of upstream calls
	forwardAuth  bool           // send the caller's Authorization instead
	br           *guard         // http views; set by New

	// tags are the features' stored-row tags, byTag their inverse.
	tags  []uint32
	byTag map[uint32]int

	// emptyRow is the row encoding of an entity with no values.
	emptyRow []byte

	// fallbacks counts rows answered without their source, by reason.
	fallbacks [numReasons]atomic.Uint64

	// writes counts Push calls (and row invalidations) on this view. A Get
	// that read Redis stores the rows in L1 only if no write happened
	// since before its read: the lease that keeps an old read from being
	// cached after a newer write.
	writes atomic.Uint64
}

type feature struct {
	name string
	typ  Type
	def  []byte // canonical JSON of the default; nil: none
}

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)

// Validate reports every problem of the registry, joined (errors.Join),
// each prefixed with its yaml path relative to Config
// (views[1].features[2].type: ...).
func (c Config) Validate() error {
	_, err := compile(c)
	return err
}

func compile(c Config) (*registry, error) {
	c = c.withDefaults()
	r := &registry{cfg: c, entities: map[string]*entity{}, views: map[string]*view{},
		services: map[string][]string{}, models: map[string]*model{}, keyTypes: map[string]Scalar{},
		keyNames: map[string]string{}, refNames: map[string]string{}}
	var p problems
	if c.MaxEntities < 1 {
		p.add("max_entities: must be >= 1")
	}
	if c.MaxRefs < 1 {
		p.add("max_refs: must be >= 1")
	}
	if c.RedisTimeout < 0 {
		p.add("redis_timeout: must not be negative")
	}
	if c.RowTTL < 0 {
		p.add("row_ttl: must not be negative")
	}
	if c.LastGoodTTL < 0 {
		p.add("last_good_ttl: must not be negative")
	}
	if c.LastGoodEntries < 0 {
		p.add("last_good_entries: must not be negative")
	}
	if c.RowCacheBytes < 1<<20 {
		p.add("row_cache_bytes: must be >= 1 MiB")
	}
	checkBreaker(&p, "breaker", c.Breaker)
	for i, ec := range c.Entities {
		r.compileEntity(&p, fmt.Sprintf("entities[%d]", i), ec)
	}
	for i, vc := range c.Views {
		r.compileView(&p, fmt.Sprintf("views[%d]", i), vc)
	}
	for i, sc := range c.Services {
		path := fmt.Sprintf("feature_services[%d]", i)
		checkName(&p, path+".name", sc.Name)
		if _, dup := r.services[sc.Name]; dup {
			p.add("%s.name: duplicate feature service %q", path, sc.Name)
		}
		if len(sc.Features) == 0 {
			p.add("%s.features: must not be empty", path)
		}
		for j, ref := range sc.Features {
			if _, _, err := r.resolve(ref); err != nil {
				p.add("%s.features[%d]: %v", path, j, err)
			}
		}
		r.services[sc.Name] = sc.Features
	}
	for i, mc := range c.Models {
		r.compileModel(&p, fmt.Sprintf("models[%d]", i), mc)
	}
	if c.SeedDemo {
		// The demo's rows (internal/demo) fit this view only.
		const demoView = "user_stats"
		if v := r.views[demoView]; v == nil || v.source != sourceMemory {
			p.add("seed_demo: needs a view %q with source memory", demoView)
		}
	}
	if len(p) > 0 {
		return nil, p.join()
	}
	return r, nil
}

func checkName(p *problems, path, name string) {
	if !nameRE.MatchString(name) {
		p.add("%s: %q is not a valid name (letters, digits, _ . -; starting with a letter or _)", path, name)
	}
}

func (r *registry) compileEntity(p *problems, path string, ec EntityConfig) {
	checkName(p, path+".name", ec.Name)
	if _, dup := r.entities[ec.Name]; dup {
		p.add("%s.name: duplicate entity %q", path, ec.Name)
	}
	e := &entity{name: ec.Name}
	if len(ec.JoinKeys) == 0 {
		p.add("%s.join_keys: must not be empty", path)
	}
	for i, jk := range ec.JoinKeys {
		kp := fmt.Sprintf("%s.join_keys[%d]", path, i)
		checkName(p, kp+".name", jk.Name)
		k := joinKey{name: jk.Name, typ: String}
		switch jk.Type {
		case "", "string":
		case "int64":
			k.typ = Int64
		default:
			p.add("%s.type: unknown join key type %q (want string or int64)", kp, jk.Type)
		}
		if t, ok := r.keyTypes[k.name]; ok && t != k.typ {
			p.add("%s.type: join key %q is %s in another entity", kp, k.name, t)
		}
		r.keyTypes[k.name] = k.typ
		r.keyNames[k.name] = k.name
		e.keys = append(e.keys, k)
	}
	r.entities[ec.Name] = e
}

func (r *registry) compileView(p *problems, path string, vc ViewConfig) {
	checkName(p, path+".name", vc.Name)
	if _, dup := r.views[vc.Name]; dup {
		p.add("%s.name: duplicate view %q", path, vc.Name)
	}
	v := &view{idx: len(r.viewList), name: vc.Name, byName: map[string]int{}, maxAge: vc.MaxAge,
		budget: vc.Budget, byTag: map[uint32]int{}, feastDefaults: vc.FeastDefaults}
	if len(vc.Entities) == 0 {
		p.add("%s.entities: must not be empty", path)
	}
	seenKey := map[string]bool{}
	for i, en := range vc.Entities {
		e := r.entities[en]
		if e == nil {
			p.add("%s.entities[%d]: unknown entity %q", path, i, en)
			continue
		}
		for _, k := range e.keys {
			if seenKey[k.name] {
				p.add("%s.entities[%d]: join key %q appears twice", path, i, k.name)
			}
			seenKey[k.name] = true
			v.keys = append(v.keys, k)
		}
	}
	if vc.MaxAge < 0 {
		p.add("%s.max_age: must not be negative", path)
	}
	if vc.Budget < 0 {
		p.add("%s.budget: must not be negative", path)
	}
	if len(vc.Features) == 0 {
		p.add("%s.features: must not be empty", path)
	}
	for i, fc := range vc.Features {
		fp := fmt.Sprintf("%s.features[%d]", path, i)
		checkName(p, fp+".name", fc.Name)
		if _, dup := v.byName[fc.Name]; dup {
			p.add("%s.name: duplicate feature %q", fp, fc.Name)
		}
		t, err := ParseType(fc.Type)
		if err != nil {
			p.add("%s.type: %v", fp, err)
		}
		f := &feature{name: fc.Name, typ: t}
		if fc.Default != nil && err == nil {
			if f.def, err = canonDefault(t, fc.Default); err != nil {
				p.add("%s.default: %v", fp, err)
			}
		}
		tag := featureTag(fc.Name)
		if other, dup := v.byTag[tag]; dup && v.features[other].name != fc.Name {
			p.add("%s.name: %q and %q have the same stored-row tag (FNV-1a 32); rename one", fp, fc.Name, v.features[other].name)
		}
		v.byName[fc.Name] = len(v.features)
		v.byTag[tag] = len(v.features)
		v.tags = append(v.tags, tag)
		v.features = append(v.features, f)
		ref := vc.Name + ":" + fc.Name
		r.refNames[ref] = ref
	}
	v.emptyRow = emptyRowOf(len(v.features))
	r.compileSource(p, path+".source", vc, v)
	v.tsField = vc.TimestampField
	defaults.Set(&v.tsField, "event_timestamp")
	switch {
	case v.source != sourceHTTP:
		v.pushSource = vc.PushSource
		defaults.Set(&v.pushSource, vc.Name)
	case vc.PushSource != "":
		p.add("%s.push_source: an http view is read-only", path)
	}
	r.views[vc.Name] = v
	r.viewList = append(r.viewList, v)
}

func (r *registry) compileSource(p *problems, path string, vc ViewConfig, v *view) {
	s := vc.Source
	v.upstreamView = s.UpstreamView
	defaults.Set(&v.upstreamView, vc.Name)
	v.timeout, v.ttl, v.url = s.Timeout, s.TTL, s.URL
	defaults.Set(&v.timeout, defaultHTTPTimeout)
	defaults.Set(&v.ttl, defaultHTTPTTL)
	v.breakerCfg = s.Breaker.Or(r.cfg.Breaker)
	checkBreaker(p, path+".breaker", s.Breaker)
	switch s.Type {
	case "", "redis":
		v.source = sourceRedis
	case "memory":
		v.source = sourceMemory
	case "http":
		v.source = sourceHTTP
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("%s.url: want an http(s) URL of /get-online-features, got %q", path, s.URL)
		} else {
			v.callURL = statusURL(u)
		}
		compileAuth(p, path+".auth", s.Auth, v)
	default:
		p.add("%s.type: unknown source %q (want redis, http or memory)", path, s.Type)
	}
	if s.Type != "http" && s.Auth != (UpstreamAuth{}) {
		p.add("%s.auth: only an http source has an upstream to authenticate to", path)
	}
	if s.Timeout < 0 || s.TTL < 0 {
		p.add("%s: timeout and ttl must not be negative", path)
	}
}

func checkBreaker(p *problems, path string, b breaker.Config) {
	if err := b.Validate(path); err != nil {
		*p = append(*p, strings.Split(err.Error(), "\n")...)
	}
}

// canonDefault turns a yaml-decoded default into canonical JSON of type t.
func canonDefault(t Type, v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode default: %w", err)
	}
	return t.canonJSON(nil, raw)
}

// resolve returns the view and feature index of a `view:feature` ref.
func (r *registry) resolve(ref string) (*view, int, error) {
	vn, fn, ok := strings.Cut(ref, ":")
	if !ok {
		return nil, 0, fmt.Errorf("%q is not a view:feature ref", clipStr(ref))
	}
	v := r.views[vn]
	if v == nil {
		return nil, 0, fmt.Errorf("unknown view %q", clipStr(vn))
	}
	fi, ok := v.byName[fn]
	if !ok {
		return nil, 0, fmt.Errorf("unknown feature %q in view %q", clipStr(fn), vn)
	}
	return v, fi, nil
}

func clipStr(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
