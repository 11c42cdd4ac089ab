package auth

import (
	"cmp"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/MicahParks/jwkset"
)

// key is one verification key, immutable once built but for revoked.
type key struct {
	kid  string
	kind keyKind
	// alg pins the key to one algorithm when its JWK says so; "" allows
	// every algorithm of its kind.
	alg string
	pub any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	// signer is the private key (or HMAC secret) for Sign; nil for public keys.
	signer any
	// revoked is set, once and for good, when the key leaves its JWKS. Every
	// cache hit reads it, so that the tokens the key verified stop being
	// trusted at once rather than after CacheTTL (see revoke.go). Static
	// keys are never revoked.
	revoked atomic.Bool
}

func newKey(kid, alg string, k any) (*key, error) {
	pub, canSign := publicOf(k)
	kind, err := kindOf(pub)
	if err != nil {
		return nil, err
	}
	if alg != "" && algKinds[alg] != kind {
		return nil, fmt.Errorf("key %q is %s but says alg %q", kid, kind, alg)
	}
	kk := &key{kid: kid, kind: kind, alg: alg, pub: pub}
	if canSign {
		kk.signer = k
	}
	return kk, nil
}

func (k *key) fits(alg string) bool {
	return algKinds[alg] == k.kind && (k.alg == "" || k.alg == alg)
}

// loadKeys loads the keys one KeyConfig describes.
func loadKeys(kc KeyConfig) ([]*key, error) {
	switch {
	case kc.Secret != "":
		secret, err := decodeSecret(kc.Secret)
		if err != nil {
			return nil, err
		}
		k, err := newKey(kc.KID, "", secret)
		if err != nil {
			return nil, err
		}
		return []*key{k}, nil
	case kc.PEMFile != "":
		data, err := os.ReadFile(kc.PEMFile)
		if err != nil {
			return nil, err
		}
		raw, err := parsePEM(data)
		if err != nil {
			return nil, fmt.Errorf("cannot parse %s: %w", kc.PEMFile, err)
		}
		k, err := newKey(kc.KID, "", raw)
		if err != nil {
			return nil, fmt.Errorf("cannot use %s: %w", kc.PEMFile, err)
		}
		return []*key{k}, nil
	case kc.JWKFile != "":
		return loadJWKFile(kc.JWKFile, kc.KID)
	}
	return nil, errors.New("no key material")
}

// parsePEM returns the key of the first PEM block it understands.
func parsePEM(data []byte) (any, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no supported PEM block found")
		}
		switch block.Type {
		case "PUBLIC KEY":
			return x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			return x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, err
			}
			return cert.PublicKey, nil
		case "PRIVATE KEY":
			return x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(block.Bytes)
		}
	}
}

// loadJWKFile reads a JWK or a JWK Set; a non-empty kid selects one key.
func loadJWKFile(path, kid string) ([]*key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w", path, err)
	}
	raws := set.Keys
	if raws == nil {
		raws = []json.RawMessage{data}
	}
	var keys []*key
	for i, raw := range raws {
		jwk, err := jwkset.NewJWKFromRawJSON(raw, jwkset.JWKMarshalOptions{Private: true}, jwkset.JWKValidateOptions{})
		if err != nil {
			return nil, fmt.Errorf("cannot parse %s key %d: %w", path, i, err)
		}
		m := jwk.Marshal()
		// kid selects a key; it also names the only key of a file without one.
		if kid != "" && m.KID != kid && (m.KID != "" || len(raws) != 1) {
			continue
		}
		k, err := keyFromJWK(jwk, cmp.Or(kid, m.KID))
		if err != nil {
			return nil, fmt.Errorf("cannot use %s key %d: %w", path, i, err)
		}
		if k == nil {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s has no key with kid %q", path, kid)
	}
	return keys, nil
}

// keyFromJWK converts a parsed JWK, honouring its alg; it returns nil for a
// key meant for encryption, which must never verify signatures.
func keyFromJWK(jwk jwkset.JWK, kid string) (*key, error) {
	m := jwk.Marshal()
	if m.USE != "" && m.USE != jwkset.UseSig {
		return nil, nil
	}
	return newKey(kid, m.ALG.String(), jwk.Key())
}

// keySet indexes keys for the request path. It is immutable once published:
// a JWKS refresh builds a new one and swaps the pointer.
type keySet struct {
	byKID map[string][]*key
	// byAlg counts and remembers keys per allowed alg, for tokens without kid.
	byAlg map[string][]*key
	// usable counts the keys that fit one of the issuer's algorithms: with
	// none, no token can verify, and the issuer is not ready.
	usable int
	// staleAt (Unix ns) is when a JWKS set stops being trusted if no newer
	// one has replaced it: the fetch that brought it plus jwks_max_stale.
	// Zero for static keys, which never go stale.
	staleAt int64
}

func newKeySet(keys []*key, algs []string) *keySet {
	s := &keySet{byKID: make(map[string][]*key, len(keys)), byAlg: make(map[string][]*key, len(algs))}
	for _, k := range keys {
		s.byKID[k.kid] = append(s.byKID[k.kid], k)
		fits := false
		for _, alg := range algs {
			if k.fits(alg) {
				s.byAlg[alg] = append(s.byAlg[alg], k)
				fits = true
			}
		}
		if fits {
			s.usable++
		}
	}
	return s
}

// trustedAt returns s, or nil if s is a JWKS set that outlived
// jwks_max_stale at now (Unix ns). A nil set stays nil.
func (s *keySet) trustedAt(now int64) *keySet {
	if s == nil || (s.staleAt != 0 && now >= s.staleAt) {
		return nil
	}
	return s
}

func (s *keySet) size() int {
	n := 0
	for _, ks := range s.byKID {
		n += len(ks)
	}
	return n
}

// lookupResult says how a key lookup ended; the issuer turns it into a
// Reason once every source has been asked.
type lookupResult uint8

const (
	keyFound lookupResult = iota
	keyNotFound
	keyWrongType // a key has this kid but another type or alg
	keyAmbiguous // no kid, and more than one key fits the alg
)

// find returns the key with kid that fits alg. A nil set finds nothing.
func (s *keySet) find(kid, alg string) (*key, lookupResult) {
	if s == nil {
		return nil, keyNotFound
	}
	ks, ok := s.byKID[kid]
	if !ok {
		return nil, keyNotFound
	}
	for _, k := range ks {
		if k.fits(alg) {
			return k, keyFound
		}
	}
	return nil, keyWrongType
}

// forAlg returns the keys usable with alg, for tokens that carry no kid.
func (s *keySet) forAlg(alg string) []*key {
	if s == nil {
		return nil
	}
	return s.byAlg[alg]
}
