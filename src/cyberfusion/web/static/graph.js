/* The graph page: draw the neighbourhood the page carries (or fetches from /graph/data) with cytoscape.js.
 *
 * Layout in O(n), no force simulation: each cluster the server found is a disc of nodes placed
 * on a sunflower spiral (even density, one multiplication per node), the discs packed in rows
 * largest first, the nodes in no cluster in a last disc. Cytoscape then only renders: edges
 * and labels are hidden while panning or zooming (hideEdgesOnViewport, textureOnViewport) and
 * labels below a readable size are not drawn at all.
 * When the drawing is on screen the container gets data-ready="true" and data-nodes/-edges
 * (what the browser tests and bench/ui.py wait for).
 */
(function () {
  "use strict";

  var container = document.getElementById("graph");
  if (!container || typeof window.cytoscape !== "function") {
    return;
  }
  var SPACING = 18; // pixels between neighbouring nodes in a disc
  var GOLDEN_ANGLE = Math.PI * (3 - Math.sqrt(5));
  var COLOURS = {
    observable: "#0b4f8a",
    object: "#b35c00",
    knowledge: "#6a3d9a",
    "autonomous-system": "#146c2e"
  };
  var status = document.getElementById("graph-status");

  function say(key) {
    // Messages are rendered by the server in the reader's language, hidden until needed.
    var messages = status.querySelectorAll("[data-message]");
    for (var i = 0; i < messages.length; i++) {
      messages[i].hidden = messages[i].getAttribute("data-message") !== key;
    }
  }

  function layout(data) {
    var groups = {};
    var order = [];
    data.clusters.forEach(function (cluster) {
      groups[cluster.id] = [];
      order.push(cluster.id);
    });
    var loose = [];
    data.nodes.forEach(function (node) {
      if (node.cluster && groups[node.cluster]) {
        groups[node.cluster].push(node);
      } else {
        loose.push(node);
      }
    });
    var discs = order.map(function (id) { return groups[id]; });
    if (loose.length) {
      discs.push(loose);
    }
    var total = 0;
    discs.forEach(function (members) {
      var radius = SPACING * Math.sqrt(members.length) + SPACING;
      total += 4 * radius * radius;
    });
    var rowWidth = Math.max(Math.sqrt(total) * 1.4, 200);
    var x = 0;
    var y = 0;
    var rowHeight = 0;
    var positions = {};
    discs.forEach(function (members) {
      var radius = SPACING * Math.sqrt(members.length) + SPACING;
      if (x > 0 && x + 2 * radius > rowWidth) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      var cx = x + radius;
      var cy = y + radius;
      members.forEach(function (node, i) {
        var r = SPACING * Math.sqrt(i);
        var angle = i * GOLDEN_ANGLE;
        positions[node.id] = { x: cx + r * Math.cos(angle), y: cy + r * Math.sin(angle) };
      });
      x += 2 * radius + SPACING;
      rowHeight = Math.max(rowHeight, 2 * radius + SPACING);
    });
    return positions;
  }

  function elements(data) {
    var positions = layout(data);
    var out = [];
    data.nodes.forEach(function (node) {
      var label = node.label.length > 40 ? node.label.slice(0, 39) + "\u2026" : node.label;
      out.push({
        group: "nodes",
        data: Object.assign({}, node, { short: label }),
        position: positions[node.id]
      });
    });
    data.edges.forEach(function (edge, i) {
      out.push({
        group: "edges",
        data: { id: "e" + i, source: edge.source, target: edge.target, kind: edge.kind }
      });
    });
    return out;
  }

  function showDetails(node) {
    var panel = document.getElementById("graph-details");
    var template = document.getElementById("node-details");
    var view = template.content.cloneNode(true);
    var data = node.data();
    var kindNames = JSON.parse(template.getAttribute("data-kinds"));
    function fill(field, value) {
      var target = view.querySelector('[data-field="' + field + '"]');
      if (value === null || value === undefined || value === "") {
        target.closest("[data-row]").remove();
      } else {
        target.textContent = String(value);
      }
    }
    fill("label", data.label);
    fill("kind", kindNames[data.kind] || data.kind);
    fill("type", data.type);
    fill("cluster", data.cluster);
    fill("status", data.status);
    fill("degree", node.degree(false));
    var page = view.querySelector('[data-field="page"]');
    if (data.page) {
      page.href = data.page;
    } else {
      page.remove();
    }
    var expand = view.querySelector('[data-field="expand"]');
    if (data.kind === "observable" || data.kind === "object") {
      var query = new URLSearchParams({
        around: data.id,
        depth: container.getAttribute("data-depth"),
        limit: container.getAttribute("data-limit")
      });
      expand.href = "/graph?" + query.toString();
    } else {
      expand.remove();
    }
    panel.replaceChildren(view);
    panel.setAttribute("data-selected", data.id);
  }

  function draw(data) {
    var cy = window.cytoscape({
      container: container,
      elements: elements(data),
      layout: { name: "preset", fit: true, padding: 20 },
      minZoom: 0.02,
      maxZoom: 4,
      boxSelectionEnabled: false,
      autoungrabify: true,
      hideEdgesOnViewport: true,
      textureOnViewport: true,
      motionBlur: false,
      pixelRatio: 1,
      style: [
        {
          selector: "node",
          style: {
            width: 10,
            height: 10,
            "background-color": "#0b4f8a",
            label: "data(short)",
            "font-size": 6,
            "min-zoomed-font-size": 9,
            "text-valign": "bottom",
            "text-margin-y": 2,
            color: "#1b1f24"
          }
        },
        { selector: 'node[kind = "object"]', style: { "background-color": COLOURS.object, shape: "round-rectangle" } },
        { selector: 'node[kind = "knowledge"]', style: { "background-color": COLOURS.knowledge, shape: "diamond" } },
        {
          selector: 'node[kind = "autonomous-system"]',
          style: { "background-color": COLOURS["autonomous-system"], shape: "hexagon" }
        },
        { selector: "node[?noise]", style: { "background-color": "#8a9199" } },
        {
          selector: 'node[id = "' + container.getAttribute("data-around") + '"]',
          style: { width: 18, height: 18, "border-width": 3, "border-color": "#f2b705" }
        },
        { selector: "node:selected", style: { "border-width": 3, "border-color": "#a4141c" } },
        {
          selector: "edge",
          style: { width: 1, "line-color": "#9aa3ad", "curve-style": "haystack", opacity: 0.7 }
        }
      ]
    });
    cy.on("tap", "node", function (event) {
      showDetails(event.target);
    });
    var filters = document.getElementById("graph-kinds");
    filters.hidden = false;
    filters.addEventListener("change", function (event) {
      var box = event.target;
      cy.batch(function () {
        cy.nodes('[kind = "' + box.value + '"]').style("display", box.checked ? "element" : "none");
      });
    });
    cy.one("render", function () {
      window.requestAnimationFrame(function () {
        container.setAttribute("data-nodes", String(cy.nodes().length));
        container.setAttribute("data-edges", String(cy.edges().length));
        container.setAttribute("data-ready", "true");
        status.querySelector("[data-drawn-nodes]").textContent = cy.nodes().length.toLocaleString(
          document.documentElement.lang
        );
        say("drawn");
      });
    });
    // Tests and the benchmark reach the drawing through the container.
    container.cy = cy;
  }

  say("loading");
  // The page carries the drawing's data; the fetch is for a page cached without it.
  var inline = document.getElementById("graph-data");
  if (inline) {
    try {
      draw(JSON.parse(inline.textContent));
    } catch (error) {
      container.setAttribute("data-error", String(error.message || error));
      say("failed");
    }
    return;
  }
  fetch(container.getAttribute("data-src"), {
    credentials: "same-origin",
    headers: { Accept: "application/json" }
  })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    })
    .then(draw)
    .catch(function (error) {
      container.setAttribute("data-error", String(error.message || error));
      say("failed");
    });
})();
