-- wrk request generator for the L2-hit rows: GET /api/products/<id> with
-- the bench JWT ($TOKEN), id uniform in 1..$KEYS, or 1, 2, 3, ... with
-- $SEQUENTIAL set (a warm-up that walks every key once).
local token = os.getenv("TOKEN")
local keys = tonumber(os.getenv("KEYS"))
local n = 0
request = function()
  n = n + 1
  local id = (os.getenv("SEQUENTIAL") and (n % keys) + 1) or math.random(1, keys)
  return wrk.format("GET", "/api/products/" .. id, {["Authorization"] = "Bearer " .. token})
end
