// Package water is the process model of the range's drinking-water plant:
// pure, deterministic physics stepped on a fixed tick, with no sockets and
// no goroutines. PLC programs (simulator/logic), the historian and plant
// definitions see it only through named tags.
//
// # The process
//
// River → intake pumps → raw-water tank → filter inlet valve → filters →
// dosing (NaOH, sodium hypochlorite) into a static mixer → clear well →
// distribution pumps → plant outlet valve → network (consumers) and booster
// stations → remote reservoirs → their zones.
//
//   - Tanks are completely stirred: each holds one volume and one set of
//     concentrations; inflow mixes completely, then outflow leaves at the
//     mixed concentration (unconditionally stable and mass-conserving for
//     any tick). Water above a tank's height spills and is counted.
//   - Intake and booster pumps are fixed-flow (flow = rated × speed).
//     Distribution pumps are centrifugal, H = H0·s² − k·Q² (affinity laws).
//     The network pressure is where the running pumps' curves meet the
//     draw: consumers behave as orifices, Q = demand·√(p/p_nominal), the
//     demand following a 24-hour pattern; booster stations draw their rated
//     flow while the network pressure is above their minimum suction, and
//     starve (run dry) below it. The outlet valve adds a loss ∝ Q²/opening².
//   - Filters: gravity flow through the inlet valve, falling with √level
//     when the raw tank is below its suction level. A filter removes
//     Efficiency of the turbidity and accumulates the solids (load); its
//     differential pressure grows with flow² (clean) and load×flow; past its
//     capacity solids break through. Backwash takes the filter out of
//     service, draws clear-well water to waste and washes the load out with
//     a time constant.
//   - Chlorine: hypochlorite adds its available chlorine (g/L × L/h) to the
//     mixer; free chlorine decays first-order in the clear well and the
//     reservoirs. treated.chlorine is the mixer (dose/flow at steady state);
//     outlet.chlorine is the clear well.
//   - pH: a closed carbonate system. Each tank carries alkalinity and total
//     carbonate, both conserved on mixing; NaOH adds one equivalent of
//     alkalinity per mole; pH solves the charge balance
//     Alk = C_T(α1 + 2α2) + Kw/[H⁺] − [H⁺] (25 °C, no CO2 exchange with
//     air; the weak alkalinity of hypochlorite is ignored). The river's
//     alkalinity and pH fix its carbonate. Around pH 8.3 the buffer runs out,
//     so an overdose of NaOH (Oldsmar, 2021) sends the pH past 10 quickly.
//   - Pumps count starts, running hours and wear (per start, per hour, faster
//     running dry). A pump with no suction (clear well below SuctionMin,
//     network below a booster's MinSuction) or against no flow (a closed
//     outlet) trips after DryRunTrip; the trip latches until its reset tag
//     is written. A pump whose wear reaches 100 % is worn out for good
//     (until Reset).
//   - The SIS acts through its own final elements (sis.*.trip tags), wired
//     in the plant ahead of the PLCs' commands, as hardwired interlocks are.
//
// Noise is added to measurements only, from a PCG generator seeded by
// Config.Seed, drawn in a fixed order every step: the same seed and the same
// writes give the same trajectory, after New or after Reset.
//
// # Consequences
//
// Consequences reports overflows per tank (volume, now overflowing), pumps
// (dry running, dead-heading, trips, wear), unsafe water at the plant outlet
// (chlorine above 4 or below 0.2 mg/L, pH outside 6.5–8.5, turbidity above
// 1 NTU, with since-when and the volume sent out), low network pressure, and
// reservoir zones out of water. Balance is the water balance
// (in = delivered + waste + spilled + Δstorage).
//
// # Tags
//
// Kinds: M measurement (noisy, clamped to its range, transmitter faults
// apply), A actuator (write; reads back what the final element holds), S
// status (exact, read-only). Pumps are numbered from 1; a plant with more
// filters or stations has filter3, reservoir2, booster2 and so on (station 1
// has the bare names).
//
//	tag                      kind unit  meaning
//	river.turbidity          M    NTU   river turbidity at the intake
//	intake.pumpN.run         A    0/1   run command
//	intake.pumpN.speed       A    %     drive speed (variable-speed pumps only)
//	intake.pumpN.reset       A    0/1   write 1 to reset a trip (momentary)
//	intake.pumpN.running     S    0/1   pump running
//	intake.pumpN.tripped     S    0/1   pump tripped (dry run, no flow, worn out, fault)
//	intake.pumpN.hours       S    h     running hours
//	intake.pumpN.starts      S          starts
//	intake.pumpN.wear        S    %     life used
//	intake.flow              M    m³/h  river → raw tank
//	raw.level                M    m     raw-water tank level
//	raw.turbidity            M    NTU
//	raw.ph                   M    pH
//	filter.valve             A    %     filter inlet flow-control valve
//	filter.flow              M    m³/h  raw tank → filters
//	filter.turbidity         M    NTU   filtered water
//	backwash.flow            M    m³/h  clear-well water to backwash (waste)
//	filterN.dp               M    kPa   differential pressure across filter N
//	filterN.backwash         A    0/1   1 = filter N in backwash (out of service)
//	filterN.inservice        S    0/1
//	dosing.naoh.rate         A    L/h   NaOH dosing pump (25 % solution)
//	dosing.cl.rate           A    L/h   hypochlorite dosing pump (12.5 %)
//	dosing.naoh.running      S    0/1
//	dosing.cl.running        S    0/1
//	treated.ph               M    pH    after dosing (static mixer)
//	treated.chlorine         M    mg/L  after dosing (static mixer)
//	clearwell.level          M    m
//	outlet.chlorine          M    mg/L  water leaving the plant (clear well)
//	outlet.ph                M    pH
//	outlet.turbidity         M    NTU
//	dist.pumpN.*             A/S        as intake.pumpN.* (centrifugal, variable speed)
//	dist.valve               A    %     plant outlet valve
//	dist.flow                M    m³/h  water leaving the plant
//	dist.pressure            M    bar   distribution pump discharge header
//	network.pressure         M    bar   downstream of the outlet valve
//	network.demand           S    m³/h  consumers' demand at nominal pressure (pattern)
//	booster.pumpN.*          A/S        as intake.pumpN.*, fixed speed (no .speed)
//	booster.flow             M    m³/h  into the reservoir
//	booster.suction          M    bar   booster suction (the network)
//	reservoir.level          M    m     remote reservoir
//	reservoir.chlorine       M    mg/L
//	reservoir.outflow        M    m³/h  to the reservoir's zone
//	sis.intake.trip          A    0/1   SIS: stop intake pumps, close filter valve
//	sis.dosing.trip          A    0/1   SIS: stop both dosing pumps
//	sis.outlet.trip          A    0/1   SIS: close outlet valve, stop distribution pumps
//
// # Use
//
// Resolve tag IDs once with Lookup, then Get and Set on every scan. The
// Plant is not safe for concurrent use: the process goroutine holds a lock
// around Step and the programs' scans, and range controls (InjectFault,
// ClearFaults, Reset) take the same lock.
package water
