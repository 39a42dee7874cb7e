// Times in the clinic's time zone, whatever zone this device is in: the
// front desk and the booking page show an appointment as the clinic's
// clock reads it, with the zone's name beside it.

/** Formats an instant in `zone` (an IANA name), with the zone's short name. */
export function formatIn(iso, zone, options) {
  return new Intl.DateTimeFormat([], { ...options, timeZone: zone || 'UTC', timeZoneName: 'short' }).format(new Date(iso));
}

/** `Tue, Mar 3, 09:00 AM CST`: day and time. */
export const whenIn = (iso, zone) => formatIn(iso, zone, { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/** `09:00 AM CST`: the time only. */
export const timeIn = (iso, zone) => formatIn(iso, zone, { hour: '2-digit', minute: '2-digit' });

/** The date `YYYY-MM-DD` that the clinic's calendar shows at an instant. */
export function dateIn(instant, zone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', { timeZone: zone || 'UTC', year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(instant).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** How far `zone`'s clock is ahead of UTC at an instant, in milliseconds. */
function offsetAt(ms, zone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone: zone || 'UTC', hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  }).formatToParts(ms).map((p) => [p.type, Number(p.value)]));
  const asUtc = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** The instant of local midnight starting `YYYY-MM-DD` (plus `days`) in `zone`. */
export function midnightIn(date, zone, days = 0) {
  const [y, m, d] = date.split('-').map(Number);
  const wall = Date.UTC(y, m - 1, d + days);
  // Twice: the offset at the first guess may differ across a DST change.
  let at = wall - offsetAt(wall, zone);
  at = wall - offsetAt(at, zone);
  return new Date(at);
}
