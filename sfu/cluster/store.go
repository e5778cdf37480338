package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// store is the cluster's state in Redis. Every write that must not race is
// one Lua script, so Redis runs it atomically:
//
//	<prefix>nodes              SET of node ids (an index; entries whose node key expired are pruned on read)
//	<prefix>node:<id>          JSON NodeInfo, with the node TTL
//	<prefix>node:<id>:rooms    ZSET room → claim expiry (Redis clock, ms): the node's live claims
//	<prefix>room:<name>        Claim "node|since", with the node TTL: who holds the room
//
// The scripts touch the keys of the nodes they name, so all keys must live
// on one Redis (no Redis Cluster sharding); a replica set with failover is
// fine.
type store struct {
	rdb    *redis.Client
	prefix string
}

func (s *store) nodesKey() string              { return s.prefix + "nodes" }
func (s *store) nodeKey(id string) string      { return s.prefix + "node:" + id }
func (s *store) nodeRoomsKey(id string) string { return s.prefix + "node:" + id + ":rooms" }
func (s *store) roomKey(room string) string    { return s.prefix + "room:" + room }

// nowMs in a script is the Redis server's clock, so that the expiry scores
// of every node's claims compare on one clock.
const luaNow = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// claimScript sets a room's claim if the room is free or already has
// exactly this claim (a refresh), and records it in the owner's room set.
// It returns "" on success, else the claim that holds the room.
// KEYS: room, owner's rooms. ARGV: claim, ttl ms, room name.
var claimScript = redis.NewScript(`local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return cur end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
` + luaNow + `redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[2], ttl)
return ''`)

// casScript replaces a claim only if it is still the one the caller saw.
// KEYS: room, old owner's rooms, new owner's rooms. ARGV: expected claim,
// new claim, ttl ms, room name. Returns 1 if replaced.
var casScript = redis.NewScript(`if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
redis.call('ZREM', KEYS[2], ARGV[4])
` + luaNow + `redis.call('ZADD', KEYS[3], now + ttl, ARGV[4])
redis.call('PEXPIRE', KEYS[3], ttl)
return 1`)

// releaseScript deletes a claim only if it is the caller's.
// KEYS: room, owner's rooms. ARGV: claim, room name.
var releaseScript = redis.NewScript(`local n = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then n = redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[2])
return n`)

// listScript returns {info, live claims[, rooms]} for every live node and
// prunes the index of dead ones. KEYS: the node index. ARGV: key prefix,
// "1" to include room names.
var listScript = redis.NewScript(luaNow + `local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local info = redis.call('GET', ARGV[1] .. 'node:' .. id)
  if info then
    local z = ARGV[1] .. 'node:' .. id .. ':rooms'
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
    local e = {info, redis.call('ZCARD', z)}
    if ARGV[2] == '1' then e[3] = redis.call('ZRANGE', z, 0, -1) end
    table.insert(out, e)
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out`)

// member is one live node read from the registry.
type member struct {
	Candidate
	Rooms []string // only when asked for
}

// getClaim returns the room's claim; ok is false when the room is free.
func (s *store) getClaim(ctx context.Context, room string) (raw string, ok bool, err error) {
	raw, err = s.rdb.Get(ctx, s.roomKey(room)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return raw, err == nil, err
}

// claim takes a free room for owner (or refreshes owner's identical claim).
// other is the claim that holds the room when it was not free.
func (s *store) claim(ctx context.Context, room string, c Claim, ttl time.Duration) (other string, err error) {
	return claimScript.Run(ctx, s.rdb, []string{s.roomKey(room), s.nodeRoomsKey(c.Node)}, c.String(), ttl.Milliseconds(), room).Text()
}

// cas replaces the claim expect (as stored) with c.
func (s *store) cas(ctx context.Context, room, expect string, c Claim, ttl time.Duration) (bool, error) {
	old, _ := ParseClaim(expect) // a malformed claim has no owner set to leave
	n, err := casScript.Run(ctx, s.rdb, []string{s.roomKey(room), s.nodeRoomsKey(old.Node), s.nodeRoomsKey(c.Node)},
		expect, c.String(), ttl.Milliseconds(), room).Int()
	return n == 1, err
}

// release frees the room if c still holds it.
func (s *store) release(ctx context.Context, rooms map[string]Claim) error {
	if len(rooms) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for room, c := range rooms {
			releaseScript.Eval(ctx, p, []string{s.roomKey(room), s.nodeRoomsKey(c.Node)}, c.String(), room)
		}
		return nil
	})
	return err
}

// heartbeat writes info and refreshes (or re-takes) every claim in one round
// trip. conflicts maps each room whose key holds another claim to that claim.
func (s *store) heartbeat(ctx context.Context, info NodeInfo, claims map[string]Claim, ttl time.Duration) (conflicts map[string]string, err error) {
	data, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	cmds := make(map[string]*redis.Cmd, len(claims))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.nodeKey(info.ID), data, ttl)
		p.SAdd(ctx, s.nodesKey(), info.ID)
		p.PExpire(ctx, s.nodeRoomsKey(info.ID), ttl)
		for room, c := range claims {
			// Eval, not EvalSha: a restarted Redis has no scripts cached,
			// and a pipeline cannot fall back on NOSCRIPT by itself.
			cmds[room] = claimScript.Eval(ctx, p, []string{s.roomKey(room), s.nodeRoomsKey(c.Node)}, c.String(), ttl.Milliseconds(), room)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for room, cmd := range cmds {
		if other, _ := cmd.Text(); other != "" {
			if conflicts == nil {
				conflicts = map[string]string{}
			}
			conflicts[room] = other
		}
	}
	return conflicts, nil
}

// deregister removes the node's entry and claim set (its claims were
// released before).
func (s *store) deregister(ctx context.Context, id string) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.nodeKey(id), s.nodeRoomsKey(id))
		p.SRem(ctx, s.nodesKey(), id)
		return nil
	})
	return err
}

// members lists the live nodes, with their room names if withRooms.
func (s *store) members(ctx context.Context, withRooms bool) ([]member, error) {
	flag := "0"
	if withRooms {
		flag = "1"
	}
	res, err := listScript.Run(ctx, s.rdb, []string{s.nodesKey()}, s.prefix, flag).Slice()
	if err != nil {
		return nil, err
	}
	out := make([]member, 0, len(res))
	for _, e := range res {
		fields, ok := e.([]any)
		if !ok || len(fields) < 2 {
			return nil, fmt.Errorf("registry: unexpected entry %v", e)
		}
		var m member
		if s, ok := fields[0].(string); !ok || json.Unmarshal([]byte(s), &m.Info) != nil {
			continue // an entry from an incompatible version; not a candidate
		}
		if n, ok := fields[1].(int64); ok {
			m.Claims = int(n)
		}
		if len(fields) > 2 {
			rooms, _ := fields[2].([]any)
			for _, r := range rooms {
				if s, ok := r.(string); ok {
					m.Rooms = append(m.Rooms, s)
				}
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// node reads one node's entry; ok is false when it has none (dead or never seen).
func (s *store) node(ctx context.Context, id string) (NodeInfo, bool, error) {
	data, err := s.rdb.Get(ctx, s.nodeKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return NodeInfo{}, false, nil
	}
	if err != nil {
		return NodeInfo{}, false, err
	}
	var info NodeInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return NodeInfo{}, false, fmt.Errorf("node %s: %w", id, err)
	}
	return info, true, nil
}
