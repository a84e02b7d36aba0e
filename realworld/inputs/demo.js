// A small node workload: read a file, parse, sort, hash, format (the corpus's node.js entry).
const fs = require('fs');
const crypto = require('crypto');
const text = fs.readFileSync('person.txt', 'utf8');
const words = text.split(/\s+/).filter(Boolean);
const counts = {};
for (const w of words) counts[w.toLowerCase()] = (counts[w.toLowerCase()] || 0) + 1;
const top = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 5);
console.log(JSON.stringify({ words: words.length, top }));
console.log(crypto.createHash('sha256').update(text).digest('hex'));
let primes = [];
for (let n = 2; primes.length < 200; n++) if (primes.every(p => n % p)) primes.push(n);
console.log(primes.slice(-3).join(','), [3.5, 1e21, -0].map(String).join(' '));
fs.writeFileSync('out.json', JSON.stringify(top, null, 2) + '\n');
