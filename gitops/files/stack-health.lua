-- Argo CD health of a Pulumi Kubernetes Operator Stack (pulumi.com/v1), from the conditions the
-- operator sets at v2.9.0 (operator/api/pulumi/v1/stack_types.go, stack_controller.go):
--   Ready=True                            -> Healthy (the last update succeeded at this generation)
--   Stalled=True                          -> Degraded (spec invalid, source unavailable, or the
--                                            update failed past its retries)
--   Reconciling, lastUpdate.state=failed  -> Degraded (a failed update being retried, e.g. a
--                                            mandatory policy violation)
--   anything else                         -> Progressing
local hs = {status = "Progressing", message = "Waiting for the operator"}
if obj.status == nil then
  return hs
end
local ready, stalled, reconciling = nil, nil, nil
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" then ready = condition end
    if condition.type == "Stalled" then stalled = condition end
    if condition.type == "Reconciling" then reconciling = condition end
  end
end
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = "Last update succeeded"
  return hs
end
local last = obj.status.lastUpdate
if last ~= nil and last.state == "failed" then
  hs.status = "Degraded"
  hs.message = "Update failed: " .. (last.message or "") .. " (retrying)"
  return hs
end
if reconciling ~= nil and reconciling.message ~= nil then
  hs.message = (reconciling.reason or "Reconciling") .. ": " .. reconciling.message
end
return hs
