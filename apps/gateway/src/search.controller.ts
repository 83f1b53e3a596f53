import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { AskBodySchema, SearchQuerySchema } from './query-schemas.js';
import { Route, ValidBody, ValidQuery } from './route-meta.js';
import { type AskRequest, type SearchRequest, SearchService } from './search.service.js';

/** Semantic search and answers over the stored summaries and events (read keys may use both). */
@Controller('api')
export class SearchController {
  constructor(private readonly search: SearchService) {}

  @Get('search')
  @Route({
    summary: 'Summaries and events nearest in meaning to a text, best first',
    responses: {
      '200': { description: 'Ranked hits', ref: 'SearchResult' },
      '503': { description: 'Search is off on this gateway (VIGIL_EMBEDDER=off)' },
    },
  })
  find(@ValidQuery(SearchQuerySchema) q: SearchRequest) {
    return this.search.search(q);
  }

  @Post('ask')
  @HttpCode(200)
  @Route({
    summary: 'A question answered from the stored history, citing the summaries and events it rests on',
    access: 'read',
    responses: {
      '200': { description: 'The answer, its cited ids and the retrieved hits', ref: 'AskAnswer' },
      '503': { description: 'Search is off on this gateway (VIGIL_EMBEDDER=off)' },
    },
  })
  ask(@ValidBody(AskBodySchema) body: AskRequest) {
    return this.search.ask(body);
  }
}
