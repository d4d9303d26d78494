// Live decisions: the server sends each new decision of the store (server-sent events);
// they are added to the top of the live table without a reload.
(function () {
  "use strict";
  var table = document.getElementById("live");
  if (!table || !window.EventSource) { return; }
  var body = table.tBodies[0];
  var status = document.getElementById("live-status");
  var source = new EventSource("/live?after=" + encodeURIComponent(table.dataset.after || "0"));
  function cell(row, text) { var td = row.insertCell(-1); td.textContent = text; return td; }
  source.addEventListener("decision", function (message) {
    var d = JSON.parse(message.data);
    var row = body.insertRow(0);
    row.className = "fresh";
    cell(row, d.decidedAt);
    var link = document.createElement("a");
    link.href = "/events/" + encodeURIComponent(d.eventId);
    link.textContent = d.eventId;
    cell(row, "").appendChild(link);
    cell(row, d.recipient);
    var badge = document.createElement("span");
    badge.className = "decision " + d.decision;
    badge.textContent = d.decision;
    cell(row, "").appendChild(badge);
    cell(row, d.rules);
    while (body.rows.length > 200) { body.deleteRow(-1); }
    status.textContent = "Live: " + body.rows.length + " new decision(s) since this page was opened.";
  });
  source.onerror = function () { status.textContent = "Live updates interrupted; retrying."; };
}());
